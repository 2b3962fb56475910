// IntrusiveList: a doubly-linked list threaded through a member hook, so that linking a
// connection into the loop's lists never allocates.
#pragma once

#include <cstddef>

namespace tether::detail {

template <class T>
struct ListHook {
  T* prev = nullptr;
  T* next = nullptr;
  bool linked = false;
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
    ListHook<T>& h = t->*H;
    if (h.linked) remove(t);
    h.prev = tail_;
    h.next = nullptr;
    h.linked = true;
    if (tail_)
      (tail_->*H).next = t;
    else
      head_ = t;
    tail_ = t;
    ++size_;
  }

  void remove(T* t) {
    ListHook<T>& h = t->*H;
    if (!h.linked) return;
    if (h.prev)
      (h.prev->*H).next = h.next;
    else
      head_ = h.next;
    if (h.next)
      (h.next->*H).prev = h.prev;
    else
      tail_ = h.prev;
    h.prev = h.next = nullptr;
    h.linked = false;
    --size_;
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tether::detail
