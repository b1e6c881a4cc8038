// echo and sink: mailboxes served by callbacks on the node's executor.
#include "services.hpp"

#include <memory>

namespace erlnode::serve {

namespace {

const atom a_sink_report("sink_report");
const atom a_sink_count("sink_count");

// Serves `mb` with `on_message` (one message at a time) until the mailbox closes.
template <class F>
void serve(std::shared_ptr<mailbox> mb, std::shared_ptr<F> on_message) {
  auto& m = *mb;
  m.async_receive([mb = std::move(mb), on_message](std::error_code ec, term msg) mutable {
    if (ec) return;  // closed: the node stopped
    (*on_message)(*mb, msg);
    serve(std::move(mb), std::move(on_message));
  });
}

// {'$gen_call', {Pid, Tag}, Request} -> {Pid, Tag}.
const tuple* gen_call_from(const term& msg) {
  auto* t = msg.get_if<tuple>();
  if (!t || t->size() != 3 || !(*t)[0].is_atom(atoms::gen_call)) return nullptr;
  auto* f = (*t)[1].get_if<tuple>();
  if (!f || f->size() != 2 || !(*f)[0].is_pid()) return nullptr;
  return f;
}

// Ref of [alias|Ref].
const reference* alias_of(const term& tag) {
  auto* l = tag.get_if<list>();
  if (!l || l->size() != 1 || !(*l)[0].is_atom(atoms::alias)) return nullptr;
  return l->tail().get_if<reference>();
}

}  // namespace

const term* gen_call_request(const term& msg) {
  return gen_call_from(msg) ? &msg.as<tuple>()[2] : nullptr;
}

bool reply_gen_call(mailbox& via, const term& msg, const term& reply) {
  auto* from = gen_call_from(msg);
  if (!from) return false;
  const term& tag = (*from)[1];
  term answer = tuple{tag, reply};
  const reference* alias = alias_of(tag);
  if (auto* l = tag.get_if<list>(); !alias && l && l->size() >= 1) alias = alias_of((*l)[0]);
  if (alias)
    via.send(*alias, answer);
  else
    via.send((*from)[0].as<pid>(), answer);
  return true;
}

result<services> start_services(node& n, serve_stats& stats) {
  auto echo = n.create_mailbox(atom("echo"));
  if (!echo) return echo.error();
  auto sink = n.create_mailbox(atom("sink"));
  if (!sink) return sink.error();
  services s{std::make_shared<mailbox>(std::move(*echo)),
             std::make_shared<mailbox>(std::move(*sink))};

  auto on_echo = [&stats](mailbox& mb, const term& msg) {
    ++stats.echo_messages;
    if (auto* req = gen_call_request(msg)) {
      reply_gen_call(mb, msg, *req);
      return;
    }
    if (auto* t = msg.get_if<tuple>(); t && t->size() == 2 && (*t)[0].is_pid())
      mb.send((*t)[0].as<pid>(), (*t)[1]);
  };
  auto on_sink = [&stats, count = std::uint64_t{0}](mailbox& mb, const term& msg) mutable {
    if (auto* t = msg.get_if<tuple>();
        t && t->size() == 2 && (*t)[0].is_atom(a_sink_report) && (*t)[1].is_pid()) {
      mb.send((*t)[1].as<pid>(), term(tuple{a_sink_count, count}));
      count = 0;
      return;
    }
    ++count;
    ++stats.sink_messages;
  };
  serve(s.echo, std::make_shared<decltype(on_echo)>(std::move(on_echo)));
  serve(s.sink, std::make_shared<decltype(on_sink)>(std::move(on_sink)));
  return s;
}

}  // namespace erlnode::serve
