// IntrusiveList: a doubly-linked list threaded through a member hook, so that linking a
// connection into the loop's lists never allocates.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tether::detail {

/// Two words: whether the element is linked rides in the low bit of `prev`, because a flag of
/// its own would pad every hook to three words (an open event stream holds three hooks).
template <class T>
struct ListHook {
  T* next = nullptr;
  T* prev() const { return reinterpret_cast<T*>(prev_ & ~kLinked); }
  bool linked() const { return (prev_ & kLinked) != 0; }

  static constexpr uintptr_t kLinked = 1;
  uintptr_t prev_ = 0;  // the previous element's address | kLinked while linked
};

template <class T, ListHook<T> T::*H>
class IntrusiveList {
 public:
  bool empty() const { return head_ == nullptr; }
  size_t size() const { return size_; }
  T* front() const { return head_; }
  static T* next(T* t) { return (t->*H).next; }

  /// Appends `t`; one already on this list moves to the back (in every build: linking an
  /// element twice would make the list point at itself). An element on another list that
  /// uses the same hook must be removed from that one first.
  void push_back(T* t) {
    static_assert(alignof(T) > 1, "the hook keeps its linked flag in the low bit of prev");
    ListHook<T>& h = t->*H;
    if (h.linked()) remove(t);
    h.prev_ = reinterpret_cast<uintptr_t>(tail_) | ListHook<T>::kLinked;
    h.next = nullptr;
    if (tail_)
      (tail_->*H).next = t;
    else
      head_ = t;
    tail_ = t;
    ++size_;
  }

  void remove(T* t) {
    ListHook<T>& h = t->*H;
    if (!h.linked()) return;
    T* const prev = h.prev();
    if (prev)
      (prev->*H).next = h.next;
    else
      head_ = h.next;
    if (h.next)
      (h.next->*H).prev_ = reinterpret_cast<uintptr_t>(prev) | ListHook<T>::kLinked;
    else
      tail_ = prev;
    h.prev_ = 0;
    h.next = nullptr;
    --size_;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tether::detail
