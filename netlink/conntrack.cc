#include "netlink/conntrack.h"

#include <algorithm>
#include <functional>
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

namespace {

bool IsUnspecified(const IpAddress& ip) {
  for (size_t i = 0; i < ip.size(); ++i) {
    if (ip.data()[i] != 0) return false;
  }
  return true;
}

}  // namespace

std::vector<FlowSelector> FlowsOfSockets(
    std::span<const SocketRecord> sockets) {
  std::vector<FlowSelector> flows;
  for (const SocketRecord& s : sockets) {
    FlowSelector f;
    f.protocol = s.protocol;
    f.local_port = s.local.port;
    if (!IsUnspecified(s.local.address)) f.local_address = s.local.address;
    if (!IsUnspecified(s.remote.address) && s.remote.port != 0) {
      f.remote_address = s.remote.address;
      f.remote_port = s.remote.port;
    }
    if (std::find(flows.begin(), flows.end(), f) == flows.end()) {
      flows.push_back(std::move(f));
    }
  }
  return flows;
}

std::optional<size_t> MatchingFlow(const ConntrackEntry& entry,
                                   std::span<const FlowSelector> flows,
                                   CtMarkMatch mark) {
  if ((entry.mark & mark.mask) != mark.value) return std::nullopt;
  for (size_t i = 0; i < flows.size(); ++i) {
    const FlowSelector& f = flows[i];
    if (f.protocol == entry.protocol && f.local_port == entry.orig_sport &&
        (!f.local_address || f.local_address == entry.tuple.orig_src) &&
        (!f.remote_address || (f.remote_address == entry.orig_dst &&
                               f.remote_port == entry.orig_dport))) {
      return i;
    }
  }
  return std::nullopt;
}

bool MatchesFlow(const ConntrackEntry& entry,
                 std::span<const FlowSelector> flows, CtMarkMatch mark) {
  return MatchingFlow(entry, flows, mark).has_value();
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

// Which bucket an entry falls in (an old source, a flow set), or none.
using Matcher = std::function<std::optional<size_t>(const ConntrackEntry&)>;

struct DumpState {
  const Matcher* match;
  const ConntrackOptions* options;
  ConntrackResult* result;
  // Matched entries to delete, with their bucket.
  std::vector<std::pair<CtRef, size_t>> to_delete;
};

ConntrackEntry ReadEntry(nfnl_ct* ct) {
  ConntrackEntry t;
  t.tuple.orig_src = ToIp(nfnl_ct_get_src(ct, /*repl=*/0));
  t.tuple.reply_dst = ToIp(nfnl_ct_get_dst(ct, /*repl=*/1));
  t.protocol = nfnl_ct_get_proto(ct);
  t.orig_dst = ToIp(nfnl_ct_get_dst(ct, 0));
  if (nfnl_ct_test_src_port(ct, 0)) t.orig_sport = nfnl_ct_get_src_port(ct, 0);
  if (nfnl_ct_test_dst_port(ct, 0)) t.orig_dport = nfnl_ct_get_dst_port(ct, 0);
  if (nfnl_ct_test_mark(ct)) t.mark = nfnl_ct_get_mark(ct);
  return t;
}

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
  std::optional<size_t> which = (*state->match)(ReadEntry(ct.get()));
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

// Dumps the table, then deletes what `match` picked (bounded by `options`).
void DumpAndDelete(const Matcher& match, const ConntrackOptions& options,
                   ConntrackResult* result) {
  // One socket for the dump; a fresh one for the deletes, so that a dump cut
  // short at max_examined leaves nothing unread in their way.
  NlSock dump = Connect(&result->error);
  if (!dump) return;
  DumpState state{&match, &options, result, {}};
  nl_socket_modify_cb(dump.get(), NL_CB_VALID, NL_CB_CUSTOM, OnEntry, &state);
  if (int err = nfnl_ct_dump_request(dump.get()); err < 0) {
    result->error = std::string("conntrack: dump request: ") + nl_geterror(err);
    return;
  }
  if (int err = nl_recvmsgs_default(dump.get()); err < 0) {
    result->error = std::string("conntrack: dump: ") + nl_geterror(err);
    return;
  }
  dump.reset();
  if (state.to_delete.empty()) return;

  NlSock del = Connect(&result->error);
  if (!del) return;
  for (const auto& [ct, which] : state.to_delete) {
    int err = nfnl_ct_del(del.get(), ct.get(), 0);
    if (err == 0) {
      ++result->deleted[which];
    } else if (err != -NLE_OBJ_NOTFOUND) {  // timed out meanwhile: gone anyway
      if (result->failed++ == 0) {
        result->failure = std::string("conntrack: delete: ") + nl_geterror(err);
      }
    }
  }
}

ConntrackResult Run(size_t buckets, const Matcher& match,
                    const ConntrackOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ConntrackResult result;
  result.matched.assign(buckets, 0);
  result.deleted.assign(buckets, 0);
  if (buckets > 0) DumpAndDelete(match, options, &result);
  result.took = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return result;
}

}  // namespace

ConntrackResult DeleteConntrackBoundTo(std::span<const OldSource> old,
                                       const ConntrackOptions& options) {
  return Run(
      old.size(),
      [&](const ConntrackEntry& e) { return BoundTo(e.tuple, old); }, options);
}

ConntrackResult DeleteConntrackFlows(std::span<const FlowSelector> flows,
                                     CtMarkMatch mark,
                                     const ConntrackOptions& options) {
  return Run(
      flows.size(),
      [&](const ConntrackEntry& e) { return MatchingFlow(e, flows, mark); },
      options);
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

ConntrackResult DeleteConntrackFlows(std::span<const FlowSelector> flows,
                                     CtMarkMatch, const ConntrackOptions&) {
  std::vector<OldSource> none(flows.size());
  return DeleteConntrackBoundTo(none, {});
}

#endif  // TSWATCHDOG_WITH_CONNTRACK

}  // namespace netlink
