// Result shapes of erpc and rex, as erpc.erl and rpc.erl (OTP 25) build and read them.
#include "rpc/rpc_outcome.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>

namespace erlnode {

namespace {
const atom a_return("return");
const atom a_erpc("erpc");
const atom a_exception("exception");
const atom a_cpp_exception("cpp_exception");

bool is(const term& t, atom a) { return t.is_atom(a); }
}  // namespace

term rpc_result::to_rpc_term() const {
  switch (st) {
    case status::ok:
      // rpc:call turns a returned {'EXIT', _} into {badrpc, {'EXIT', _}} (RPCIFY).
      if (auto* t = value.get_if<tuple>(); t && t->size() == 2 && is((*t)[0], atoms::EXIT))
        return tuple{atoms::badrpc, value};
      return value;
    case status::exception:
      switch (cls) {
        case exception_class::throw_:
          if (auto* t = value.get_if<tuple>(); t && t->size() == 2 && is((*t)[0], atoms::EXIT))
            return tuple{atoms::badrpc, value};
          return value;
        case exception_class::exit:
          return tuple{atoms::badrpc, term(tuple{atoms::EXIT, value})};
        case exception_class::error:
          return tuple{atoms::badrpc, term(tuple{atoms::EXIT, term(tuple{value, stacktrace})})};
      }
      break;
    case status::timeout:
      return tuple{atoms::badrpc, atoms::timeout};
    case status::nodedown:
      return tuple{atoms::badrpc, atoms::nodedown};
    case status::badrpc:
      return tuple{atoms::badrpc, value};
  }
  return tuple{atoms::badrpc, value};
}

const term& rpc_result::get() const {
  switch (st) {
    case status::ok:
      return value;
    case status::exception:
      throw erlang_exception(cls, value, stacktrace);
    case status::timeout:
      throw erlang_exception(exception_class::error, tuple{a_erpc, atoms::timeout});
    case status::nodedown:
      throw erlang_exception(exception_class::error, tuple{a_erpc, atoms::noconnection});
    case status::badrpc:
      break;
  }
  throw erlang_exception(exception_class::error, tuple{a_erpc, value});
}

namespace detail {

rpc_outcome undef_outcome(atom m, atom f, const list& args) {
  return {rpc_outcome::kind::error, atoms::undef,
          list{term(tuple{m, f, term(args), term(list{})})}};
}

namespace {
std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                           std::free);
  return status == 0 && p ? std::string(p.get()) : std::string(name);
}

rpc_outcome cpp_error(const std::string& type, std::string_view what) {
  return {rpc_outcome::kind::error,
          tuple{a_cpp_exception, term(binary(std::string_view(type))), term(binary(what))},
          {}};
}
}  // namespace

rpc_outcome outcome_of_current_exception(atom m, atom f, const list& args) {
  rpc_outcome o;
  try {
    throw;
  } catch (const erlang_exception& e) {
    switch (e.cls()) {
      case exception_class::throw_:
        return {rpc_outcome::kind::thrown, e.reason(), {}};
      case exception_class::exit:
        return {rpc_outcome::kind::exit, e.reason(), {}};
      case exception_class::error:
        o = {rpc_outcome::kind::error, e.reason(), e.stacktrace()};
        break;
    }
  } catch (const bad_term_access&) {
    o = {rpc_outcome::kind::error, atoms::badarg, {}};
  } catch (const std::exception& e) {
    o = cpp_error(demangle(typeid(e).name()), e.what());
  } catch (...) {
    auto* t = abi::__cxa_current_exception_type();
    o = cpp_error(t ? demangle(t->name()) : std::string("unknown"), {});
  }
  // The frame a BEAM function would leave after erpc trims the stack: the function itself.
  if (auto* l = o.stack.get_if<list>(); l && l->empty())
    o.stack = list{term(tuple{m, f, term(static_cast<std::int64_t>(args.size())), term(list{})})};
  return o;
}

term erpc_exit_reason(const term& ref, const rpc_outcome& o) {
  switch (o.k) {
    case rpc_outcome::kind::returned:
      return tuple{ref, a_return, o.value};
    case rpc_outcome::kind::thrown:
      return tuple{ref, atoms::throw_, o.value};
    case rpc_outcome::kind::exit:
      return tuple{ref, atoms::exit, o.value};
    case rpc_outcome::kind::error:
      break;
  }
  return tuple{ref, atoms::error, o.value, o.stack};
}

term rex_reply(const rpc_outcome& o) {
  switch (o.k) {
    case rpc_outcome::kind::returned:
    case rpc_outcome::kind::thrown:
      return o.value;
    case rpc_outcome::kind::exit:
      return tuple{atoms::badrpc, term(tuple{atoms::EXIT, o.value})};
    case rpc_outcome::kind::error:
      break;
  }
  return tuple{atoms::badrpc, term(tuple{atoms::EXIT, term(tuple{o.value, o.stack})})};
}

rpc_result timeout_result() { return {rpc_result::status::timeout, {}, {}, {}}; }
rpc_result nodedown_result() { return {rpc_result::status::nodedown, {}, {}, {}}; }

rpc_result result_of_erpc_down(const term& res, const term& reason) {
  using st = rpc_result::status;
  if (auto* t = reason.get_if<tuple>(); t && t->size() >= 3 && (*t)[0] == res) {
    const term& k = (*t)[1];
    if (t->size() == 3) {
      if (is(k, a_return)) return rpc_result::from_value((*t)[2]);
      if (is(k, atoms::throw_)) return {st::exception, (*t)[2], exception_class::throw_, {}};
      if (is(k, atoms::exit)) return {st::exception, (*t)[2], exception_class::exit, {}};
      // {Res, error, {erpc, Reason}}: an argument error erpc reports as error({erpc, R}).
      if (is(k, atoms::error))
        if (auto* e = (*t)[2].get_if<tuple>(); e && e->size() == 2 && is((*e)[0], a_erpc))
          return {st::badrpc, tuple{atoms::EXIT, (*e)[1]}, {}, {}};
    } else if (t->size() == 4 && is(k, atoms::error)) {
      return {st::exception, (*t)[2], exception_class::error, (*t)[3]};
    }
  }
  if (is(reason, atoms::noconnection)) return nodedown_result();
  return {st::badrpc, tuple{atoms::EXIT, reason}, {}, {}};
}

rpc_result result_of_spawn_error(const term& reason) {
  using st = rpc_result::status;
  if (is(reason, atoms::noconnection)) return nodedown_result();
  if (is(reason, atom("notsup"))) return {st::badrpc, reason, {}, {}};
  return {st::badrpc, tuple{atoms::EXIT, reason}, {}, {}};
}

rpc_result result_of_rex_reply(const term& reply) {
  if (auto* t = reply.get_if<tuple>(); t && t->size() == 2 && is((*t)[0], atoms::badrpc)) {
    if (is((*t)[1], atoms::nodedown)) return nodedown_result();
    return {rpc_result::status::badrpc, (*t)[1], {}, {}};
  }
  return rpc_result::from_value(reply);
}

rpc_result result_of_rex_down(const term& reason) {
  if (is(reason, atoms::noconnection)) return nodedown_result();
  // rpc.erl's rpc_check: a rex that died (or was never there) gives {badrpc, {'EXIT', ...}}.
  return {rpc_result::status::badrpc, tuple{atoms::EXIT, reason}, {}, {}};
}

}  // namespace detail
}  // namespace erlnode
