// The calling side of gen_server: gen:call's monitor + alias protocol, cast, abcast and
// multi_call.
#include <erlnode/gen_call.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

namespace erlnode::gen {

namespace {
const atom a_gen_call("$gen_call");
const atom a_gen_cast("$gen_cast");
const atom a_alias("alias");
const atom a_down("DOWN");
const atom a_noproc("noproc");
const atom a_noconnection("noconnection");
const atom a_nodedown("nodedown");
const atom a_timeout("timeout");
const atom a_calling_self("calling_self");
const atom a_closed("closed");

class call_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "erlnode.gen.call"; }
  std::string message(int c) const override {
    switch (static_cast<call_errc>(c)) {
      case call_errc::noproc:
        return "no such process";
      case call_errc::timeout:
        return "no reply before the timeout";
      case call_errc::nodedown:
        return "the server's node is down";
      case call_errc::exited:
        return "the server exited before replying";
      case call_errc::calling_self:
        return "a process cannot call itself";
      case call_errc::closed:
        return "the calling mailbox was closed";
    }
    return "unknown gen call error";
  }
};

// One call in flight: what the replies and DOWN messages are matched against.
struct pending {
  term mref;   // the monitor reference
  term alias;  // the alias reference
  term tag;    // [alias|Alias]
  atom node;   // the server's node, for {nodedown, Node}
  const reference& monitor_ref() const { return mref.as<reference>(); }
  const reference& alias_ref() const { return alias.as<reference>(); }
};

bool is_reply(const term& m, const term& tag) {
  auto* t = m.get_if<tuple>();
  return t && t->size() == 2 && (*t)[0] == tag;
}

bool is_down(const term& m, const term& mref) {
  auto* t = m.get_if<tuple>();
  return t && t->size() == 5 && (*t)[0].is_atom(a_down) && (*t)[1] == mref;
}

match_fn matcher(const pending& p) {
  return
      [tag = p.tag, mref = p.mref](const term& m) { return is_reply(m, tag) || is_down(m, mref); };
}

// Monitors, aliases and sends; an immediate result when the call cannot start.
std::optional<call_result> begin(mailbox& self, const server_ref& dest, const term& request,
                                 pending& p) {
  const atom self_node = self.self().node();
  p.node = dest.node(self_node);
  if (dest.as_pid() && term(*dest.as_pid()) == term(self.self()))
    return call_result(call_errc::calling_self, a_calling_self);
  if (!self.alive()) return call_result(call_errc::closed, self.exit_reason().value_or(a_closed));
  p.mref = dest.as_pid() ? self.monitor(*dest.as_pid()) : self.monitor(dest.name(), p.node);
  p.alias = self.alias();
  p.tag = list(std::vector<term>{a_alias}, p.alias);
  term msg(tuple{a_gen_call, term(tuple{self.self(), p.tag}), request});
  std::error_code ec =
      dest.as_pid() ? self.send(*dest.as_pid(), msg) : self.send(dest.name(), p.node, msg);
  if (ec == node_errc::not_connected || ec == node_errc::not_started) {
    // The node cannot be reached: what the monitor's noconnection would say.
    self.demonitor(p.monitor_ref(), true);
    self.unalias(p.alias_ref());
    return call_result(call_errc::nodedown, tuple{a_nodedown, p.node});
  }
  return std::nullopt;
}

call_result finish(mailbox& self, const pending& p, std::error_code ec, const term& msg) {
  if (ec == node_errc::closed)  // the mailbox is gone: do not touch it
    return call_result(call_errc::closed, a_closed);
  if (ec) {  // timeout: a reply may still have slipped in before the demonitor
    self.demonitor(p.monitor_ref(), true);
    self.unalias(p.alias_ref());
    if (auto late = self.try_receive([&](const term& m) { return is_reply(m, p.tag); }))
      return call_result(late->as<tuple>()[1]);
    return call_result(call_errc::timeout, a_timeout);
  }
  if (is_reply(msg, p.tag)) {
    self.demonitor(p.monitor_ref(), true);
    self.unalias(p.alias_ref());
    return call_result(msg.as<tuple>()[1]);
  }
  self.unalias(p.alias_ref());
  const term& reason = msg.as<tuple>()[4];
  if (reason.is_atom(a_noconnection))
    return call_result(call_errc::nodedown, tuple{a_nodedown, p.node});
  if (reason.is_atom(a_noproc)) return call_result(call_errc::noproc, reason);
  return call_result(call_errc::exited, reason);
}
}  // namespace

const std::error_category& call_category() noexcept {
  static const call_category_impl c;
  return c;
}

std::optional<server_ref> server_ref::from_term(const term& t) {
  if (auto* p = t.get_if<pid>()) return server_ref(*p);
  if (auto* a = t.get_if<atom>()) return server_ref(*a);
  if (auto* tp = t.get_if<tuple>(); tp && tp->size() == 2) {
    auto* n = (*tp)[0].get_if<atom>();
    auto* nd = (*tp)[1].get_if<atom>();
    if (n && nd) return server_ref(*n, *nd);
  }
  return std::nullopt;
}

term server_ref::to_term() const {
  if (pid_) return *pid_;
  if (node_) return tuple{name_, *node_};
  return name_;
}

const term& call_result::value() const {
  if (err_)
    throw std::logic_error("gen::call_result::value(): no reply (" + error().message() + ")");
  return value_;
}

namespace detail {
void start_call(mailbox& self, server_ref dest, term request, std::chrono::milliseconds timeout,
                net::any_completion<call_result> h) {
  pending p;
  if (auto r = begin(self, dest, request, p)) return h(std::move(*r));
  auto m = matcher(p);
  self.async_receive(std::move(m), timeout,
                     [&self, p = std::move(p), h = std::move(h)](
                         std::error_code ec, term msg) mutable { h(finish(self, p, ec, msg)); });
}
}  // namespace detail

call_result call(mailbox& self, const server_ref& dest, const term& request,
                 std::chrono::milliseconds timeout) {
  pending p;
  if (auto r = begin(self, dest, request, p)) return std::move(*r);
  auto got = self.receive(matcher(p), timeout);
  if (!got) return finish(self, p, got.error().code, term());
  return finish(self, p, {}, *got);
}

std::error_code cast(mailbox& self, const server_ref& dest, const term& request) {
  term msg(tuple{a_gen_cast, request});
  if (dest.as_pid()) return self.send(*dest.as_pid(), msg);
  return self.send(dest.name(), dest.node(self.self().node()), msg);
}

void abcast(mailbox& self, const std::vector<atom>& nodes, atom name, const term& request) {
  term msg(tuple{a_gen_cast, request});
  for (atom n : nodes) (void)self.send(name, n, msg);
}

}  // namespace erlnode::gen

// ------------------------------------------------------------------------------------------
// multi_call

namespace erlnode::gen {
namespace {
// One multi_call in flight, on its own temporary mailbox.
struct multi_state {
  mailbox mb;
  term tag;                                    // a plain Ref; each node's tag is {Ref, Node}
  std::vector<std::pair<atom, term>> waiting;  // node, monitor reference
  multi_call_result out;
  bool forever;
  std::chrono::steady_clock::time_point deadline;

  multi_state(node& n, const std::vector<atom>& nodes, atom name, const term& request,
              std::chrono::milliseconds timeout)
      : mb(n.create_mailbox()),
        tag(n.make_ref()),
        forever(timeout == infinity),
        deadline(timeout == infinity ? std::chrono::steady_clock::time_point::max()
                                     : std::chrono::steady_clock::now() + timeout) {
    for (atom nd : nodes) {
      term mref = mb.monitor(name, nd);
      (void)mb.send(name, nd,
                    term(tuple{a_gen_call, term(tuple{mb.self(), term(tuple{tag, nd})}), request}));
      waiting.emplace_back(nd, std::move(mref));
    }
  }
  bool done() const { return waiting.empty(); }
  std::chrono::milliseconds remaining() const {
    if (forever) return infinity;
    auto left = deadline - std::chrono::steady_clock::now();
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::duration_cast<std::chrono::milliseconds>(left));
  }
  // {{Ref, Node}, Reply} or a DOWN of one of our monitors.
  match_fn matcher() const {
    return [this](const term& m) { return which(m) != waiting.size(); };
  }
  std::size_t which(const term& m) const {
    auto* t = m.get_if<tuple>();
    if (!t) return waiting.size();
    for (std::size_t i = 0; i < waiting.size(); ++i) {
      if (t->size() == 2 && (*t)[0] == term(tuple{tag, waiting[i].first})) return i;
      if (t->size() == 5 && (*t)[0].is_atom(a_down) && (*t)[1] == waiting[i].second) return i;
    }
    return waiting.size();
  }
  void take(const term& m) {
    std::size_t i = which(m);
    if (i == waiting.size()) return;
    auto& t = m.as<tuple>();
    if (t.size() == 2) {
      mb.demonitor(waiting[i].second.as<reference>(), true);
      out.replies.emplace_back(waiting[i].first, t[1]);
    } else {
      out.bad_nodes.push_back(waiting[i].first);
    }
    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
  }
  // Timed out: what already arrived still counts; the rest are bad nodes.
  multi_call_result finish() {
    while (auto m = mb.try_receive(matcher())) take(*m);
    for (auto& w : waiting) {
      mb.demonitor(w.second.as<reference>(), true);
      out.bad_nodes.push_back(w.first);
    }
    waiting.clear();
    mb.close();
    return std::move(out);
  }
};
}  // namespace

multi_call_result multi_call(node& n, const std::vector<atom>& nodes, atom name,
                             const term& request, std::chrono::milliseconds timeout) {
  multi_state s(n, nodes, name, request, timeout);
  while (!s.done()) {
    auto m = s.mb.receive(s.matcher(), s.remaining());
    if (!m) break;
    s.take(*m);
  }
  return s.finish();
}

namespace detail {
namespace {
void multi_step(std::shared_ptr<multi_state> s, net::any_completion<multi_call_result> h) {
  if (s->done()) return h(s->finish());
  auto m = s->matcher();
  auto left = s->remaining();
  s->mb.async_receive(std::move(m), left,
                      [s, h = std::move(h)](std::error_code ec, term msg) mutable {
                        if (ec) return h(s->finish());
                        s->take(msg);
                        multi_step(std::move(s), std::move(h));
                      });
}
}  // namespace

void start_multi_call(node& n, std::vector<atom> nodes, atom name, term request,
                      std::chrono::milliseconds timeout, net::any_completion<multi_call_result> h) {
  multi_step(std::make_shared<multi_state>(n, nodes, name, request, timeout), std::move(h));
}
}  // namespace detail

}  // namespace erlnode::gen
