// Text from outside the daemon (interface names from the kernel, tailscaled's
// error bodies, children's output) is bytes, not UTF-8. JSON needs valid
// UTF-8 (nlohmann::json's dump() throws on anything else) and a log line
// must stay one line. These helpers make such text safe where it enters.
// Like unique_fd.h, they live in netlink/ because it is the lowest layer and
// every other one links it.
#ifndef TSWATCHDOG_NETLINK_UTF8_H_
#define TSWATCHDOG_NETLINK_UTF8_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace netlink {

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// `text` with each ill-formed sequence (a maximal subpart, as Unicode
// recommends) replaced by U+FFFD; valid text comes back unchanged.
std::string ToValidUtf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that does not
// end inside a UTF-8 sequence. Meant for valid UTF-8; on other bytes it
// never cuts more than a sequence's first three bytes off.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

// `text` as one safe log line: valid UTF-8 (ToValidUtf8), and every control
// character except tab written as an escape ("\n", "\r", "\x1b"), so a
// newline in someone else's text cannot start a forged log line.
std::string EscapeForLog(std::string_view text);

}  // namespace netlink

#endif  // TSWATCHDOG_NETLINK_UTF8_H_
