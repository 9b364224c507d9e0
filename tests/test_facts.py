"""audit/facts.py: one parse of a file (or of its functions) becomes functions, calls with their
context, assignments, struct-typed declarations, returns, wrapper macros and flow graphs."""

from __future__ import annotations

from audit import facts
from audit.model import Assign, Decl, FuncInfo, MacroDef, ParseProblem

DRV = b"""#define MY_PUT(p) put_page(p)
#define OTHER(p) kfree(p)
static int drv_get(struct drv *d, unsigned long uaddr, int n)
{
\tstruct page **pages = d->pages;
\tint i, got;

\tgot = get_user_pages_fast(uaddr, n, FOLL_WRITE, pages);
\tif (got < 0)
\t\treturn got;
\tfor (i = 0; i < got; i++)
\t\tput_page(pages[i]);
\treturn got;
}
"""
FOCUS = frozenset({"get_user_pages_fast", "put_page"})


def test_functions_calls_and_their_context() -> None:
    ff = facts.extract("drivers/x.c", DRV, FOCUS)
    assert ff.functions == (FuncInfo("drv_get", 3, DRV.index(b"{\n\tstruct"), len(DRV) - 1, ("d", "uaddr", "n"),
                                     ("drv", "", ""), True, False),)
    gup, put = ff.calls
    assert (gup.name, gup.func, gup.lhs, gup.args, gup.span.line, gup.span.column) == (
        "get_user_pages_fast", "drv_get", "got", ("uaddr", "n", "FOLL_WRITE", "pages"), 8, 8)
    assert (put.name, put.args, put.in_loop, put.guard, put.dead) == ("put_page", ("pages[i]",), True, None, False)


def test_values_declarations_returns_and_wrapper_macros() -> None:
    ff = facts.extract("drivers/x.c", DRV, FOCUS)
    assert ff.assigns[:2] == (Assign("pages", "d->pages", "drv_get", 5),
                              Assign("got", "get_user_pages_fast(uaddr, n, FOLL_WRITE, pages)", "drv_get", 8))
    assert set(ff.decls) == {Decl("pages", "page", "drv_get"), Decl("d", "drv", "drv_get")}
    assert ff.returns == (("drv_get", "got"), ("drv_get", "got"))
    # Only a macro whose body names a focus call is a wrapper.
    assert ff.macros == (MacroDef("MY_PUT", ("p",), "put_page(p)", 1),)


def test_a_flow_graph_only_for_functions_calling_the_names_asked() -> None:
    assert [f.func for f in facts.extract("x.c", DRV, FOCUS, flows_for=frozenset({"get_user_pages_fast"})).flows] == ["drv_get"]
    assert facts.extract("x.c", DRV, FOCUS, flows_for=frozenset({"pin_user_pages"})).flows == ()


def test_a_function_tree_sitter_cannot_build_comes_from_the_layout_with_a_problem() -> None:
    src = b"""static int broken(unsigned long u, struct page **p)
{
#ifdef A
\tif (u) {
#else
\tif (!u) {
#endif
\t\treturn get_user_pages_fast(u, 1, 0, p);
\t}
\treturn 0;
}
"""
    ff = facts.extract("drivers/y.c", src, frozenset({"get_user_pages_fast"}))
    assert [(f.name, f.degraded) for f in ff.functions] == [("broken", True)]
    assert [c.func for c in ff.calls] == ["broken"]
    assert ff.problems == (ParseProblem("drivers/y.c", 8, "parse damaged around get_user_pages_fast(): enclosing "
                                                           "function broken found by layout"),)


def test_only_the_ranges_asked_are_parsed() -> None:
    src = DRV + b"\nstatic void other(struct page *p)\n{\n\tput_page(p);\n}\n"
    start = src.index(b"static void other")
    ff = facts.extract("x.c", src, FOCUS, [(start, len(src))])
    assert [f.name for f in ff.functions] == ["other"] and [c.func for c in ff.calls] == ["other"]


def test_arguments_split_at_top_level_commas_without_comments() -> None:
    assert facts.split_args('(a, f(b, c), "x,y", /* c, */ d)') == ("a", "f(b, c)", '"x,y"', "d")
    assert facts.split_args("( )") == ()


def test_fast_init_keeps_the_dataclass_contract() -> None:
    """model.fast_init: same values, defaults, equality, hash, pickling and frozenness."""
    import dataclasses
    import pickle

    import pytest

    from audit.flow import FlowNode
    from audit.model import Span

    s = Span(1, 2, 3, 4, 5, 6)
    assert (s.line, s.end_byte) == (1, 6) and s == Span(1, 2, 3, 4, 5, 6) and hash(s) == hash(Span(1, 2, 3, 4, 5, 6))
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.line = 7  # type: ignore[misc]
    n = FlowNode("stmt", 3, "x = 1", (4,))
    assert (n.calls, n.assigns, n.loop, n.entry) == ((), (), -1, "")
    assert FlowNode(kind="cond", line=1, text="a", succ=(1, 2), loop=0) == FlowNode("cond", 1, "a", (1, 2), (), (), 0, "")


def test_flows_only_gives_the_flows_extract_gives() -> None:
    """facts.flows_only: the control-flow graphs of the functions that call a name, as extract()
    builds them, without the other facts."""
    src = b"""
static int helper(int x)
{
	return x;
}

int caller(struct page **pages, int n)
{
	int ret = acme_wrap(pages, n);

	if (ret < 0)
		return ret;
	put_page(pages[0]);
	return 0;
}

int other(void)
{
	return helper(1);
}
"""
    from audit import parse

    lines = parse.Lines(src)
    ranges = [(c.start, c.end) for c in parse.chunks(src)]
    names = frozenset({"acme_wrap"})
    got = facts.flows_only(src, ranges, lines, names)
    assert [f.func for f in got] == ["caller"]
    assert got == facts.extract("x.c", src, frozenset(), ranges, lines, flows_for=names).flows
