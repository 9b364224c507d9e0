"""The text rewrite of `audit fix`: the acquire renamed to its pin counterpart, each release made pin-aware.

`put_page` -> `unpin_user_page`, a `set_page_dirty_lock` + `put_page` pair -> one
`unpin_user_pages_dirty_lock(&p, 1, dirty)`, a whole release loop -> `unpin_user_pages(p, n)` when
the loop can be recognised safely, `release_pages` -> `unpin_user_pages` (templates in the `[fix]`
tables). FOLL_GET is dropped from the flags, FOLL_LONGTERM added for pins kept past the call.
Kernel style is kept: tabs, continuation lines realigned to the `(`, lines wrapped at `max_line`.
Every edit is a byte range of a file; nothing is written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from audit.fixes.context import Role, acquire_call, call_at
from audit.fixes.ctext import (
    IDENT,
    Decline,
    Edit,
    balanced_parens,
    call_args,
    declarator_name,
    enclosing,
    function_params,
    in_loop,
    indent_to,
    node_text,
    visual_width,
)
from audit.model import Release, Site
from audit.parse import Node
from audit.sourcefile import SourceFile, identifiers_under, nodes


@dataclass(frozen=True)
class _Fold:
    """A dirtying statement right before a release, to be folded into it."""

    stmt: Node
    """The statement (`set_page_dirty_lock(p);` or `if (c) set_page_dirty_lock(p);`)."""
    dirty: str
    """The make_dirty expression it amounts to (`true`, `dirty`)."""


class Rewriter(Role):
    """Builds the edits of one conversion."""

    def acquire_edit(self, s: Site, longterm: bool = False) -> list[Edit]:
        """The edits renaming the acquire to its pin counterpart, dropping FOLL_GET (adding FOLL_LONGTERM)."""
        new = self.cat.acquire[s.api].pin_counterpart
        assert new is not None
        ac = acquire_call(self, s)
        name = ac.call.child_by_field_name("function")
        assert name is not None
        flags = ac.flags
        ftext = node_text(flags)
        nf = ftext
        get_flag = self.cat.get_flag
        if re.search(rf"\b{get_flag}\b", nf):
            nf = re.sub(rf"\s*\|\s*\b{get_flag}\b|\b{get_flag}\b\s*\|\s*", "", nf)
            if re.search(rf"\b{get_flag}\b", nf):
                nf = re.sub(rf"\b{get_flag}\b", "0", nf)
        lt = self.fx.longterm_flag
        if longterm and not re.search(rf"\b{lt}\b", nf):
            if nf.strip() == "0":
                nf = lt
            else:
                # `a == b | FLAG` would bind as `a == (b | FLAG)`: anything but a `|` chain is parenthesised.
                atom = re.fullmatch(r"[\w\s|]+", nf) is not None or balanced_parens(nf.strip())
                nf = f"{nf} | {lt}" if atom else f"({nf}) | {lt}"
        return self._rename(ac.file, ac.call, name, new, (flags, nf) if nf != ftext else None)


    def _rename(self, src: SourceFile, call: Node, name: Node, new: str,
                arg: tuple[Node, str] | None = None) -> list[Edit]:
        """Rename a call's callee (and replace argument `arg` with new text), realigning continuation
        lines aligned to its `(`."""
        old = node_text(name)
        if call.start_point[0] == call.end_point[0] and arg is not None:
            # One line: the whole call, wrapped at `(` if the new flags make it too long.
            a, b = arg[0].start_byte - name.end_byte, arg[0].end_byte - name.end_byte
            rest = src.src[name.end_byte : call.end_byte]
            text = new + (rest[:a] + arg[1].encode() + rest[b:]).decode("utf-8")
            return [Edit(src.path, call.start_byte, call.end_byte, self._wrap(src, call, text).encode())]
        if call.start_point[0] == call.end_point[0] or len(new) == len(old):
            edits = [Edit(src.path, name.start_byte, name.end_byte, new.encode())]
            if arg is not None:
                edits.append(Edit(src.path, arg[0].start_byte, arg[0].end_byte, arg[1].encode()))
            return edits
        delta = len(new) - len(old)
        ls = src.line_start(name.start_byte)
        paren = visual_width(src.src[ls : name.end_byte].decode("utf-8", "replace")) + 1
        raw = src.src[name.end_byte : call.end_byte]
        if arg is not None:
            a, b = arg[0].start_byte - name.end_byte, arg[0].end_byte - name.end_byte
            raw = raw[:a] + arg[1].encode() + raw[b:]
        text = raw.decode("utf-8")
        out_lines = text.split("\n")
        for i in range(1, len(out_lines)):
            ln = out_lines[i]
            stripped = ln.lstrip(" \t")
            lead = ln[: len(ln) - len(stripped)]
            if stripped and visual_width(lead) == paren:
                out_lines[i] = indent_to(paren + delta) + stripped
        return [Edit(src.path, name.start_byte, call.end_byte, (new + "\n".join(out_lines)).encode())]

    def _dirty_fold(self, src: SourceFile, stmt: Node, page: str) -> _Fold | None:
        """The dirtying statement right before `stmt` on the same page, if it can be folded."""
        prev = stmt.prev_sibling
        if prev is None or prev.type not in ("expression_statement", "if_statement"):
            return None
        cond = "true"
        inner = prev
        if prev.type == "if_statement":
            if prev.child_by_field_name("alternative") is not None:
                return None
            cons = prev.child_by_field_name("consequence")
            if cons is not None and cons.type == "compound_statement":
                kids = [c for c in cons.named_children]
                cons = kids[0] if len(kids) == 1 else None
            if cons is None or cons.type != "expression_statement":
                return None
            inner = cons
            folded = self._dirty_condition(node_text(prev.child_by_field_name("condition")), page)
            if folded is None:
                return None
            cond = folded
        call = inner.named_children[0] if inner.named_children else None
        if call is None or call.type != "call_expression":
            return None
        if node_text(call.child_by_field_name("function")) not in self.fx.fold_dirty:
            return None
        a = call_args(call)
        if len(a) != 1 or " ".join(node_text(a[0]).split()) != page:
            return None
        # The folded statement must own its lines and be followed only by blank space up to stmt.
        if src.src[src.line_start(prev.start_byte) : prev.start_byte].strip():
            return None
        if src.src[prev.end_byte : src.line_start(stmt.start_byte)].strip():
            return None
        if src.src[src.line_start(stmt.start_byte) : stmt.start_byte].strip():
            return None
        return _Fold(prev, cond)

    def _dirty_condition(self, cond: str, page: str) -> str | None:
        """The make_dirty expression of `if (cond) set_page_dirty_lock(page);`, or None if it tests the page."""
        c = cond.strip()
        if balanced_parens(c):
            c = c[1:-1].strip()
        parts = [p.strip() for p in c.split("&&")] if "||" not in c else [c]
        keep: list[str] = []
        for p in parts:
            q = p[1:-1].strip() if balanced_parens(p) else p
            if any(re.fullmatch(rf"!\s*{re.escape(t)}\s*\(\s*{re.escape(page)}\s*\)", q) for t in self.fx.dirty_tests):
                continue
            keep.append(p)
        if not keep:
            return "true"
        rest = " && ".join(keep)
        page_ids = set(IDENT.findall(page))
        if page_ids & set(IDENT.findall(rest)) or "(" in rest:
            return None
        return rest

    def _loop(self, src: SourceFile, stmt: Node, fold: _Fold | None, arg: Node) -> tuple[Node, str, str] | None:
        """(for_statement, array, count) when `stmt` is the whole body of a collapsible release loop."""
        parent = stmt.parent
        loop = parent
        if parent is not None and parent.type == "compound_statement":
            kids = [c for c in parent.named_children]
            want = ([fold.stmt] if fold else []) + [stmt]
            if [k.id for k in kids] != [w.id for w in want]:
                return None
            loop = parent.parent
            if loop is None or loop.type != "for_statement" or loop.child_by_field_name("body") != parent:
                return None
        elif fold is not None or loop is None or loop.type != "for_statement" or loop.child_by_field_name("body") != stmt:
            return None
        assert loop is not None
        init = loop.child_by_field_name("initializer")
        cond = loop.child_by_field_name("condition")
        upd = loop.child_by_field_name("update")
        if init is None or cond is None or upd is None:
            return None
        declared_here = False
        if init.type == "assignment_expression" and node_text(init.child_by_field_name("right")) == "0":
            var = node_text(init.child_by_field_name("left"))
        elif init.type == "declaration":
            ds = init.children_by_field_name("declarator")
            if len(ds) != 1 or ds[0].type != "init_declarator" or node_text(ds[0].child_by_field_name("value")) != "0":
                return None
            var = node_text(ds[0].child_by_field_name("declarator"))
            declared_here = True
        else:
            return None
        if not IDENT.fullmatch(var):
            return None
        if cond.type != "binary_expression" or node_text(cond.child_by_field_name("left")) != var or \
                node_text(cond.child_by_field_name("operator")) != "<":
            return None
        count_node = cond.child_by_field_name("right")
        count = node_text(count_node)
        if node_text(upd).replace(" ", "") not in (f"{var}++", f"++{var}", f"{var}+=1"):
            return None
        if arg.type != "subscript_expression" or node_text(arg.child_by_field_name("index")) != var:
            return None
        array = node_text(arg.child_by_field_name("argument"))
        if var in IDENT.findall(array) or var in IDENT.findall(count):
            return None
        for t in (array, count):
            if re.search(r"\(|\+\+|--|(?<![=!<>])=(?!=)", t):
                return None
        fdef = enclosing(loop, ("function_definition",))
        if fdef is None or not self._count_unsigned(src.path, fdef, count):
            return None
        if not declared_here and not self._var_dead_after(fdef, loop, var):
            return None
        return loop, array, count

    def _count_unsigned(self, file: str, fdef: Node, count: str) -> bool:
        """Whether the loop bound cannot be negative (a literal, or declared with an unsigned type)."""
        c = count.strip()
        if re.fullmatch(r"\d+[uUlL]*", c):
            return int(re.sub(r"[uUlL]", "", c)) >= 0
        fm = re.fullmatch(r"[A-Za-z_]\w*\s*(?:->|\.)\s*([A-Za-z_]\w*)", c)
        if fm:
            return self._field_unsigned(file, fm.group(1))
        if not IDENT.fullmatch(c):
            return False
        decl_text: str | None = None
        for pname, ptext in function_params(fdef):
            if pname == c:
                decl_text = ptext
        body = fdef.child_by_field_name("body")
        for cap, n in nodes(body, "fix/values") if body is not None else ():
            if cap == "value.decl":
                for d in n.children_by_field_name("declarator"):
                    dn = declarator_name(d)
                    if dn is not None and node_text(dn) == c:
                        tn = n.child_by_field_name("type")
                        decl_text = node_text(tn) + " " + " ".join(node_text(x) for x in n.children if x.type == "type_qualifier")
        if decl_text is None:
            return False
        words = IDENT.findall(decl_text.split(c)[0] if c in decl_text else decl_text)
        return self._unsigned_words(words)

    def _unsigned_words(self, words: list[str]) -> bool:
        """Whether a declaration's type words name an unsigned type."""
        return any(w in self.fx.unsigned_types for w in words) or \
            any(" ".join(words[i : i + 2]) in self.fx.unsigned_types for i in range(len(words)))

    def _field_unsigned(self, file: str, fname: str) -> bool:
        """Whether every declaration of struct member `fname` in the file and its folder's headers is unsigned."""
        folder = os.path.dirname(file)
        cands = [file] + [rel for rel in self.ctx.listdir(folder) if rel.endswith(".h")]
        rx = re.compile(r"^[ \t]*((?:[A-Za-z_]\w*[ \t]+)+)\**[ \t]*" + re.escape(fname) + r"[ \t]*(?:\[[^\]]*\])?[ \t]*;",
                        re.MULTILINE)
        found = False
        for rel in cands:
            text = self.source(rel).src.decode("utf-8", "replace")
            for m in rx.finditer(text):
                words = [w for w in m.group(1).split() if w not in ("const", "volatile")]
                if words and words[0] in ("return", "goto", "else"):
                    continue
                found = True
                if not self._unsigned_words(words):
                    return False
        return found

    def _var_dead_after(self, fdef: Node, loop: Node, var: str) -> bool:
        """Whether removing the loop changes nothing about `var`: used elsewhere, never read after it."""
        if in_loop(loop, fdef):
            return False
        body = fdef.child_by_field_name("body")
        if body is None:
            return False
        uses: list[Node] = []
        labels: dict[str, int] = {}
        gotos: list[tuple[str, int]] = []
        uses.extend(identifiers_under(body, var))
        for cap, n in nodes(body, "fix/jumps"):
            if cap == "jump.label":
                labels[node_text(n.child_by_field_name("label"))] = n.start_byte
            else:
                gotos.append((node_text(n.child_by_field_name("label")), n.start_byte))
        def in_decl(n: Node) -> bool:
            """Whether identifier `n` is the name a declaration declares."""
            p = n.parent
            return p is not None and p.type in ("declaration", "init_declarator") and p.child_by_field_name("declarator") == n
        outside = [u for u in uses if not (loop.start_byte <= u.start_byte < loop.end_byte) and not in_decl(u)]
        if not outside:
            return False  # the declaration would be left unused
        if any(pos >= loop.end_byte and name in labels and labels[name] < loop.start_byte for name, pos in gotos):
            return False  # a backward jump over the loop
        after = sorted((u for u in outside if u.start_byte >= loop.end_byte), key=lambda u: u.start_byte)
        if not after:
            return True
        first = after[0]
        p = first.parent
        return p is not None and p.type == "assignment_expression" and p.child_by_field_name("left") == first and \
            node_text(p.child_by_field_name("operator")) == "="

    def release_edit(self, r: Release, write_back: bool) -> tuple[Edit, bool]:
        """The edit converting release `r`; also whether it now dirties pages it did not before."""
        src, call = call_at(self, r.file, r.line, r.column, r.api)
        tmpl = self.fx.release[r.api]
        args = call_args(call)
        texts = [" ".join(node_text(a).split()) for a in args]
        stmt = call.parent
        whole_stmt = stmt is not None and stmt.type == "expression_statement" and \
            len(stmt.named_children) == 1 and stmt.named_children[0] == call
        fold = self._dirty_fold(src, stmt, texts[0]) if whole_stmt and texts and stmt is not None else None
        dirty = fold.dirty if fold is not None else ("true" if write_back else None)
        added_dirty = fold is None and write_back
        # A whole loop: for (i = 0; i < n; i++) [dirty(p[i]);] put_page(p[i]);
        if whole_stmt and stmt is not None and tmpl.loop and args:
            lp = self._loop(src, stmt, fold, args[0])
            if lp is not None:
                loop, array, count = lp
                t = tmpl.loop_dirty if dirty else tmpl.loop
                if t is not None:
                    new = self._fill(t, texts, args, dirty, array, count)
                    if new is not None:
                        return Edit(r.file, loop.start_byte, loop.end_byte,
                                    (self._wrap(src, loop, new) + ";").encode()), added_dirty
        t = tmpl.to_dirty if dirty else tmpl.to
        if t is None:
            if fold is not None:
                fold, dirty = None, None
                t = tmpl.to
            else:
                raise Decline(f"{r.api}() at {r.file}:{r.line} cannot be made to dirty the pages")
        new = self._fill(t, texts, args, dirty, None, None)
        if new is None and fold is not None:
            # Not an lvalue: keep the dirtying statement and convert the release alone.
            fold, dirty = None, None
            new = self._fill(tmpl.to, texts, args, None, None, None)
        if new is None:
            raise Decline(f"{r.api}({', '.join(texts)}) at {r.file}:{r.line}: `{texts[0] if texts else ''}` is not an "
                           "lvalue, so the release cannot dirty it")
        if fold is not None and stmt is not None:
            lead = src.src[src.line_start(stmt.start_byte) : stmt.start_byte].decode("utf-8")
            block = stmt.parent
            if block is not None and block.type == "compound_statement" and \
                    [c.id for c in block.children if c.type not in ("{", "}")] == [fold.stmt.id, stmt.id] and \
                    block.parent is not None and block.parent.type in ("for_statement", "while_statement") and \
                    block.parent.child_by_field_name("body") == block and \
                    src.src[src.line_start(block.start_byte) : block.start_byte].strip() and \
                    not src.src[src.line_start(block.end_byte - 1) : block.end_byte - 1].strip():
                # Folding leaves one statement: drop the braces (kernel style).
                start = block.start_byte
                while start > 0 and src.src[start - 1 : start] in (b" ", b"\t"):
                    start -= 1
                text = "\n" + lead + self._wrap(src, call, new) + ";"
                return Edit(r.file, start, block.end_byte, text.encode()), added_dirty
            ls = src.line_start(fold.stmt.start_byte)
            return Edit(r.file, ls, call.end_byte, (lead + self._wrap(src, call, new)).encode()), added_dirty
        name = call.child_by_field_name("function")
        assert name is not None
        if self._pure_rename(t, len(args)):
            renamed = t.split("(")[0]
            multi = call.start_point[0] != call.end_point[0]
            if multi or self._wrap(src, call, renamed + node_text(call)[len(node_text(name)):]).count("\n") == 0:
                return self._rename(src, call, name, renamed)[0], added_dirty
        return Edit(r.file, call.start_byte, call.end_byte, self._wrap(src, call, new).encode()), added_dirty

    @staticmethod
    def _pure_rename(template: str, nargs: int) -> bool:
        """Whether a template only renames the callee and keeps all `nargs` arguments in order."""
        m = re.fullmatch(r"(\w+)\((.*)\)", template)
        if not m:
            return False
        want = ", ".join(f"{{{i}}}" for i in range(nargs))
        return m.group(2) == want

    @staticmethod
    def _fill(template: str, texts: list[str], args: list[Node], dirty: str | None, array: str | None,
              count: str | None) -> str | None:
        """Instantiate a release template; None when `{&0}` needs an lvalue the argument is not."""
        def addr(i: int) -> str | None:
            """`&arg` for an lvalue argument `i`, else None."""
            if i >= len(args):
                return None
            a = args[i]
            if a.type in ("identifier", "subscript_expression", "field_expression"):
                return "&" + texts[i]
            if a.type == "pointer_expression" and node_text(a).startswith("*"):
                inner = a.child_by_field_name("argument")
                return " ".join(node_text(inner).split()) if inner is not None else None
            return None

        missing = False

        def sub(m: re.Match[str]) -> str:
            """Replace one `{…}` placeholder."""
            nonlocal missing
            k = m.group(1)
            if k.startswith("&"):
                v = addr(int(k[1:]))
            elif k.isdigit():
                v = texts[int(k)] if int(k) < len(texts) else None
            else:
                v = {"dirty": dirty, "array": array, "count": count}.get(k)
            if v is None:
                missing = True
                return ""
            return v

        out = re.sub(r"\{(&?\w+)\}", sub, template)
        return None if missing else out

    def _wrap(self, src: SourceFile, node: Node, call: str) -> str:
        """`call` as it should replace `node`: on one line, or broken after commas and aligned to `(`.

        It is wrapped only when its line would grow past `max_line` (and past the original line).
        """
        ls = src.line_start(node.start_byte)
        lead = src.src[ls : node.start_byte].decode("utf-8")
        nl = src.src.find(b"\n", node.end_byte)
        tail = src.src[node.end_byte : nl if nl >= 0 else len(src.src)].decode("utf-8")
        first_nl = src.src.find(b"\n", ls)
        orig = visual_width(src.src[ls : first_nl if first_nl >= 0 else len(src.src)].decode("utf-8"))
        if visual_width(lead + call + tail) <= max(self.fx.max_line, orig):
            return call
        m = re.match(r"(\w+)\((.*)\)$", call)
        if not m:
            return call
        args = self._split_args(m.group(2))
        open_col = visual_width(lead) + len(m.group(1)) + 1
        lines: list[str] = []
        cur = m.group(1) + "("
        base = visual_width(lead)
        for i, a in enumerate(args):
            last = i == len(args) - 1
            piece = a + (")" + tail if last else ",")
            cand = cur + ("" if cur.endswith(("(", " ")) or not cur.strip() else " ") + piece
            if i > 0 and base + visual_width(cand) > self.fx.max_line and cur.strip():
                lines.append(cur)
                cur = indent_to(open_col) + piece
                base = 0
            else:
                cur = cand
        lines.append(cur)
        text = "\n".join(lines)
        return text[: len(text) - len(tail)] if tail else text

    @staticmethod
    def _split_args(text: str) -> list[str]:
        """Split an argument list's text at top-level commas."""
        out, depth, cur = [], 0, ""
        for ch in text:
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            if ch == "," and depth == 0:
                out.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            out.append(cur.strip())
        return out
