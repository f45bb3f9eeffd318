#include "netlink/conntrack.h"

#include <algorithm>
#include <memory>

#ifdef TSWATCHDOG_WITH_CONNTRACK
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#endif

namespace netlink {

void OldSources::Observe(const UplinkView& view) {
  for (Family family : kFamilies) {
    const Egress& egress = view.Get(family);
    if (!egress.usable()) continue;
    OldSource now{*egress.source, egress.dev};
    std::optional<OldSource>& current = current_[static_cast<int>(family)];
    // Current again (failback): not old any more.
    std::erase_if(old_,
                  [&](const OldSource& o) { return o.address == now.address; });
    if (current && current->address != now.address) {
      old_.insert(old_.begin(), *current);
      size_t kept = 0;
      std::erase_if(old_, [&](const OldSource& o) {
        return o.address.family() == family && ++kept > kMaxPerFamily;
      });
    }
    current = now;
  }
}

std::optional<size_t> BoundTo(const ConntrackTuple& entry,
                              std::span<const OldSource> old) {
  for (size_t i = 0; i < old.size(); ++i) {
    if (entry.orig_src == old[i].address || entry.reply_dst == old[i].address) {
      return i;
    }
  }
  return std::nullopt;
}

size_t ConntrackResult::total_matched() const {
  size_t n = 0;
  for (size_t m : matched) n += m;
  return n;
}

size_t ConntrackResult::total_deleted() const {
  size_t n = 0;
  for (size_t d : deleted) n += d;
  return n;
}

#ifdef TSWATCHDOG_WITH_CONNTRACK
namespace {

struct SockFree {
  void operator()(nl_sock* sk) const { nl_socket_free(sk); }
};
using NlSock = std::unique_ptr<nl_sock, SockFree>;

struct CtPut {
  void operator()(nfnl_ct* ct) const { nfnl_ct_put(ct); }
};
using CtRef = std::unique_ptr<nfnl_ct, CtPut>;

std::optional<IpAddress> ToIp(nl_addr* addr) {
  if (addr == nullptr) return std::nullopt;
  return IpAddress::FromBytes(
      {static_cast<const uint8_t*>(nl_addr_get_binary_addr(addr)),
       nl_addr_get_len(addr)});
}

// A netfilter netlink socket, or the reason there is none.
NlSock Connect(std::string* error) {
  NlSock sk(nl_socket_alloc());
  if (!sk) {
    *error = "conntrack: out of memory for a netlink socket";
    return nullptr;
  }
  if (int err = nfnl_connect(sk.get()); err < 0) {
    *error =
        std::string("conntrack: netfilter netlink socket: ") + nl_geterror(err);
    return nullptr;
  }
  return sk;
}

struct DumpState {
  std::span<const OldSource> old;
  const ConntrackOptions* options;
  ConntrackResult* result;
  // Matched entries to delete, with the index of their old source.
  std::vector<std::pair<CtRef, size_t>> to_delete;
};

int OnEntry(nl_msg* msg, void* arg) {
  auto* state = static_cast<DumpState*>(arg);
  ConntrackResult& result = *state->result;
  if (result.examined >= state->options->max_examined) {
    result.truncated = true;
    return NL_STOP;
  }
  ++result.examined;
  nfnl_ct* parsed = nullptr;
  if (nfnlmsg_ct_parse(nlmsg_hdr(msg), &parsed) < 0) return NL_SKIP;
  CtRef ct(parsed);
  ConntrackTuple tuple{ToIp(nfnl_ct_get_src(ct.get(), /*repl=*/0)),
                       ToIp(nfnl_ct_get_dst(ct.get(), /*repl=*/1))};
  std::optional<size_t> which = BoundTo(tuple, state->old);
  if (!which) return NL_OK;
  ++result.matched[*which];
  if (state->options->dry_run) return NL_OK;
  if (state->to_delete.size() >= state->options->max_deleted) {
    result.truncated = true;
    return NL_OK;
  }
  state->to_delete.emplace_back(std::move(ct), *which);
  return NL_OK;
}

}  // namespace

ConntrackResult DeleteConntrackBoundTo(std::span<const OldSource> old,
                                       const ConntrackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ConntrackResult result;
  result.matched.assign(old.size(), 0);
  result.deleted.assign(old.size(), 0);
  auto finish = [&] {
    result.took = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    return result;
  };
  if (old.empty()) return finish();

  // One socket for the dump; a fresh one for the deletes, so that a dump cut
  // short at max_examined leaves nothing unread in their way.
  NlSock dump = Connect(&result.error);
  if (!dump) return finish();
  DumpState state{old, &options, &result, {}};
  nl_socket_modify_cb(dump.get(), NL_CB_VALID, NL_CB_CUSTOM, OnEntry, &state);
  if (int err = nfnl_ct_dump_request(dump.get()); err < 0) {
    result.error = std::string("conntrack: dump request: ") + nl_geterror(err);
    return finish();
  }
  if (int err = nl_recvmsgs_default(dump.get()); err < 0) {
    result.error = std::string("conntrack: dump: ") + nl_geterror(err);
    return finish();
  }
  dump.reset();
  if (state.to_delete.empty()) return finish();

  NlSock del = Connect(&result.error);
  if (!del) return finish();
  for (const auto& [ct, which] : state.to_delete) {
    int err = nfnl_ct_del(del.get(), ct.get(), 0);
    if (err == 0) {
      ++result.deleted[which];
    } else if (err != -NLE_OBJ_NOTFOUND) {  // timed out meanwhile: gone anyway
      if (result.failed++ == 0) {
        result.failure = std::string("conntrack: delete: ") + nl_geterror(err);
      }
    }
  }
  return finish();
}

#else  // !TSWATCHDOG_WITH_CONNTRACK

ConntrackResult DeleteConntrackBoundTo(std::span<const OldSource> old,
                                       const ConntrackOptions&) {
  ConntrackResult result;
  result.matched.assign(old.size(), 0);
  result.deleted.assign(old.size(), 0);
  result.error =
      "this tswatchdog was built without conntrack support "
      "(TSWATCHDOG_WITH_CONNTRACK=OFF: no libnl-nf)";
  return result;
}

#endif  // TSWATCHDOG_WITH_CONNTRACK

}  // namespace netlink
