// A free TCP port on loopback for a test server to bind (shared by the collector,
// end-to-end and actuator tests).
#ifndef VARIANT_TEST_COLLECTOR_FREE_PORT_H_
#define VARIANT_TEST_COLLECTOR_FREE_PORT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace variant::collector::testing {

inline int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::abort();
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace variant::collector::testing

#endif  // VARIANT_TEST_COLLECTOR_FREE_PORT_H_
