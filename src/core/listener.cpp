#include "core/listener.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tether::detail {
namespace {

// How often a listener paused for want of fds tries to listen again.
constexpr uint64_t kAcceptRetryMs = 100;

std::string where(const std::string& host, uint16_t port) {
  return host + ":" + std::to_string(port);
}

// Binds the first address of host:port that takes it, with SO_REUSEADDR (a restart is not
// held up by connections in TIME_WAIT) and, if asked, SO_REUSEPORT.
Status bind_socket(const std::string& host, uint16_t port, bool reuseport, int* fd) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), std::to_string(port).c_str(), &hints,
                       &res);
  if (rc != 0) {
    return Status::error("cannot resolve " + where(host, port) + ": " + gai_strerror(rc));
  }
  int err = EADDRNOTAVAIL;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int s = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
      err = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && ::setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      err = errno;
      ::close(s);
      continue;
    }
    if (::bind(s, ai->ai_addr, ai->ai_addrlen) == 0) {
      freeaddrinfo(res);
      *fd = s;
      return {};
    }
    err = errno;
    ::close(s);
  }
  freeaddrinfo(res);
  return Status::error("cannot listen on " + where(host, port) + ": " + std::strerror(err));
}

}  // namespace

Status bind_listen_socket(const std::string& host, uint16_t port, bool reuseport, int* fd) {
  return bind_socket(host, port, reuseport, fd);
}

Status reserve_port(const std::string& host, uint16_t port, int* fd, uint16_t* bound) {
  if (Status s = bind_socket(host, port, false, fd); !s) return s;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(*fd);
    *fd = -1;
    return Status::error("cannot listen on " + where(host, port) + ": " + std::strerror(err));
  }
  *bound = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return {};
}

Listener::~Listener() {
  if (dup_ >= 0) ::close(dup_);
}

Status Listener::open(const std::string& host, uint16_t port, bool reuseport, unsigned backlog,
                      uint16_t* bound) {
  where_ = where(host, port);
  backlog_ = backlog;
  auto fail = [this](const char* what, int rc) {
    return Status::error("cannot listen on " + where_ + ": " + what + ": " + uv_strerror(rc));
  };
  if (int rc = uv_timer_init(loop_, &retry_); rc != 0) return fail("timer", rc);
  retry_.data = this;
  retry_open_ = true;
  int fd = -1;
  if (Status s = bind_listen_socket(host, port, reuseport, &fd); !s) return s;
  dup_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup_ < 0) {
    int err = errno;
    ::close(fd);
    return Status::error("cannot listen on " + where_ + ": " + std::strerror(err));
  }
  if (int rc = uv_tcp_init(loop_, &tcp_); rc != 0) {
    ::close(fd);
    return fail("tcp handle", rc);
  }
  tcp_.data = this;
  listening_ = true;  // from here on the handle must be closed
  if (int rc = uv_tcp_open(&tcp_, fd); rc != 0) {
    ::close(fd);
    return fail("open", rc);
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (int rc = uv_listen(stream, static_cast<int>(backlog_), on_accept); rc != 0) {
    return Status::error("cannot listen on " + where_ + ": " + uv_strerror(rc));
  }
  if (bound) {
    sockaddr_storage addr{};
    int len = sizeof addr;
    if (int rc = uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&addr), &len); rc != 0) {
      return fail("getsockname", rc);
    }
    *bound = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  }
  return {};
}

void Listener::close() {
  if (closed_) return;
  closed_ = true;
  if (listening_) {
    listening_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  }
  if (retry_open_) {
    retry_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_), nullptr);
  }
  if (dup_ >= 0) {
    ::close(dup_);  // the last fd of the socket once the handle is closed: the port is free
    dup_ = -1;
  }
}

void Listener::on_accept(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  if (status == UV_EMFILE || status == UV_ENFILE) {
    // No fd, and libuv's reserve fd (closed to accept and shed pending connections) is gone
    // too, taken by another thread: libuv would call back at once, forever.
    l->pause();
    return;
  }
  if (status < 0) return;  // a connection that failed while being accepted
  l->on_connection_(l->ctx_, server);
}

void Listener::pause() {
  if (!listening_ || closed_) return;
  // Closing the handle ends libuv's accept loop; the socket stays open (dup_), so new
  // connections wait in its backlog until an fd is free again.
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_tcp_closed);
}

void Listener::on_tcp_closed(uv_handle_t* h) {
  auto* l = static_cast<Listener*>(h->data);
  if (!l->closed_) uv_timer_start(&l->retry_, on_retry, kAcceptRetryMs, 0);
}

void Listener::on_retry(uv_timer_t* t) {
  auto* l = static_cast<Listener*>(t->data);
  if (!l->closed_) l->resume();
}

void Listener::resume() {
  int fd = ::fcntl(dup_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) {  // still no fd to spare
    uv_timer_start(&retry_, on_retry, kAcceptRetryMs, 0);
    return;
  }
  // Initializing the handle again also lets libuv take its reserve fd, if one is free.
  if (uv_tcp_init(loop_, &tcp_) != 0) {
    ::close(fd);
    uv_timer_start(&retry_, on_retry, kAcceptRetryMs, 0);
    return;
  }
  tcp_.data = this;
  listening_ = true;
  bool ok = uv_tcp_open(&tcp_, fd) == 0;
  if (!ok) ::close(fd);
  ok = ok &&
       uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), static_cast<int>(backlog_), on_accept) == 0;
  if (!ok) pause();  // closes the handle; on_tcp_closed tries again later
}

}  // namespace tether::detail
