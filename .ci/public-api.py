#!/usr/bin/env python3
"""The public API of the library crates, as sorted text checked in under api/.

A change of the public surface (an item added, removed, moved or re-exported
elsewhere, a signature changed) is then a visible diff in review, and CI fails
when the checked-in snapshot is stale.

    python3 .ci/public-api.py            # rebuild and rewrite api/<crate>.txt
    python3 .ci/public-api.py --check    # rebuild and fail (with a diff) if stale
    python3 .ci/public-api.py --no-build # reuse target/doc/<crate>.json

It reads rustdoc's JSON output (`cargo rustdoc -- --output-format json`, an
unstable rustdoc flag; RUSTC_BOOTSTRAP=1 lets the stable toolchain emit it, so
nothing has to be installed). Every crate is documented with all its features,
so feature-gated items are listed too. One line per item: its path from the
crate root, its kind, and for functions, constants and fields their signature
or type; re-exports of other crates' items are listed as such
(`use <path>`), not expanded. The JSON format changes between Rust releases
(`format_version`); an item kind or type this script does not know is
rendered as `?<kind>` rather than failing, so a toolchain upgrade shows up as
a diff to look at, not as a broken CI.
"""

import argparse
import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The library crates whose surface is promised (clamator-macros is a
# proc-macro crate: its surface is the three macros the facade re-exports,
# listed in api/clamator.txt).
CRATES = [
    "clamator",
    "clamator-protocol",
    "clamator-over-redis",
    "clamator-over-memory",
]


def build(crate: str) -> None:
    env = dict(os.environ, RUSTC_BOOTSTRAP="1")
    cmd = [
        "cargo", "rustdoc", "-q", "--locked", "-p", crate, "--lib", "--all-features",
        "--", "-Z", "unstable-options", "--output-format", "json",
    ]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def json_path(crate: str) -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "doc" / (crate.replace("-", "_") + ".json")


class Renderer:
    """Renders the items of one rustdoc JSON document."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.index = doc["index"]
        self.paths = doc.get("paths", {})
        self.lines: set[str] = set()
        # Where each item is declared, when that is a public path (a public
        # module chain from the root, not through a re-export): a re-export
        # of such an item is listed as `use <that path>`, not expanded again.
        self.home: dict[str, str] = {}

    # ---- types -------------------------------------------------------
    def path_name(self, p: dict) -> str:
        name = p.get("path") or p.get("name")
        if not name:
            known = self.paths.get(str(p.get("id")))
            name = known["path"][-1] if known else "?"
        return name + self.generic_args(p.get("args"))

    def generic_args(self, args) -> str:
        if not args:
            return ""
        if "angle_bracketed" in args:
            ab = args["angle_bracketed"]
            parts = [self.generic_arg(a) for a in ab.get("args", [])]
            parts += [self.constraint(c) for c in ab.get("constraints", ab.get("bindings", []))]
            return "<" + ", ".join(parts) + ">" if parts else ""
        if "parenthesized" in args:
            pa = args["parenthesized"]
            out = "(" + ", ".join(self.ty(t) for t in pa.get("inputs", [])) + ")"
            if pa.get("output"):
                out += " -> " + self.ty(pa["output"])
            return out
        if "return_type_notation" in args:
            return "(..)"
        return "<?>"

    def generic_arg(self, a) -> str:
        if a == "infer":
            return "_"
        if "lifetime" in a:
            return a["lifetime"]
        if "type" in a:
            return self.ty(a["type"])
        if "const" in a:
            c = a["const"]
            return c.get("expr") or c.get("value") or "?const"
        return "?arg"

    def constraint(self, c) -> str:
        name = c.get("name", "?") + self.generic_args(c.get("args"))
        b = c.get("binding", {})
        if "equality" in b:
            eq = b["equality"]
            return f"{name} = " + (self.ty(eq["type"]) if "type" in eq else self.generic_arg(eq))
        if "constraint" in b:
            return f"{name}: " + self.bounds(b["constraint"])
        return name

    def bounds(self, bounds) -> str:
        return " + ".join(self.bound(b) for b in bounds)

    def bound(self, b) -> str:
        if "trait_bound" in b:
            tb = b["trait_bound"]
            prefix = ""
            if tb.get("generic_params"):
                prefix = "for<" + ", ".join(p["name"] for p in tb["generic_params"]) + "> "
            modifier = {"maybe": "?", "maybe_const": "~const "}.get(tb.get("modifier"), "")
            return prefix + modifier + self.path_name(tb["trait"])
        if "outlives" in b:
            return b["outlives"]
        if "use" in b:
            args = []
            for u in b["use"]:
                if isinstance(u, dict):
                    args.append(u.get("lifetime") or u.get("param") or "?")
                else:
                    args.append(str(u))
            return "use<" + ", ".join(args) + ">"
        return "?bound"

    def ty(self, t) -> str:
        if t is None:
            return "()"
        if "resolved_path" in t:
            return self.path_name(t["resolved_path"])
        if "generic" in t:
            return t["generic"]
        if "primitive" in t:
            return t["primitive"]
        if "borrowed_ref" in t:
            r = t["borrowed_ref"]
            lt = (r["lifetime"] + " ") if r.get("lifetime") else ""
            mut = "mut " if r.get("is_mutable") else ""
            return f"&{lt}{mut}{self.ty(r['type'])}"
        if "raw_pointer" in t:
            r = t["raw_pointer"]
            return ("*mut " if r.get("is_mutable") else "*const ") + self.ty(r["type"])
        if "slice" in t:
            return "[" + self.ty(t["slice"]) + "]"
        if "array" in t:
            return "[" + self.ty(t["array"]["type"]) + "; " + str(t["array"]["len"]) + "]"
        if "tuple" in t:
            return "(" + ", ".join(self.ty(x) for x in t["tuple"]) + ")"
        if "impl_trait" in t:
            return "impl " + self.bounds(t["impl_trait"])
        if "dyn_trait" in t:
            d = t["dyn_trait"]
            parts = [self.bound({"trait_bound": tr}) for tr in d.get("traits", [])]
            if d.get("lifetime"):
                parts.append(d["lifetime"])
            return "dyn " + " + ".join(parts)
        if "qualified_path" in t:
            q = t["qualified_path"]
            self_ty = self.ty(q["self_type"])
            if q.get("trait"):
                return f"<{self_ty} as {self.path_name(q['trait'])}>::{q['name']}"
            return f"{self_ty}::{q['name']}"
        if "function_pointer" in t:
            f = t["function_pointer"]
            return "fn" + self.sig(f.get("sig") or f.get("decl"))
        if t == "infer" or "infer" in t:
            return "_"
        if "pat" in t:
            return self.ty(t["pat"]["type"])
        return "?" + next(iter(t), "type")

    def sig(self, sig) -> str:
        inputs = ", ".join(
            (name if name in ("self",) else f"{name}: {self.ty(ty)}")
            if name != "self" else self.self_param(ty)
            for name, ty in sig.get("inputs", [])
        )
        out = sig.get("output")
        return f"({inputs})" + (f" -> {self.ty(out)}" if out is not None else "")

    def self_param(self, ty) -> str:
        if "generic" in ty and ty["generic"] == "Self":
            return "self"
        if "borrowed_ref" in ty:
            r = ty["borrowed_ref"]
            inner = r["type"]
            if inner.get("generic") == "Self":
                lt = (r["lifetime"] + " ") if r.get("lifetime") else ""
                return f"&{lt}{'mut ' if r.get('is_mutable') else ''}self"
        return "self: " + self.ty(ty)

    def generics(self, g) -> str:
        if not g:
            return ""
        params = []
        for p in g.get("params", []):
            kind = p.get("kind", {})
            if "lifetime" in kind:
                outl = kind["lifetime"].get("outlives") or []
                params.append(p["name"] + (": " + " + ".join(outl) if outl else ""))
            elif "type" in kind:
                k = kind["type"]
                if k.get("is_synthetic"):
                    continue  # `impl Trait` in argument position
                b = self.bounds(k.get("bounds", []))
                params.append(p["name"] + (": " + b if b else ""))
            elif "const" in kind:
                params.append(f"const {p['name']}: {self.ty(kind['const']['type'])}")
        out = "<" + ", ".join(params) + ">" if params else ""
        preds = []
        for w in g.get("where_predicates", []):
            if "bound_predicate" in w:
                bp = w["bound_predicate"]
                preds.append(self.ty(bp["type"]) + ": " + self.bounds(bp.get("bounds", [])))
            elif "lifetime_predicate" in w:
                lp = w["lifetime_predicate"]
                preds.append(lp["lifetime"] + ": " + " + ".join(lp.get("outlives", [])))
            elif "eq_predicate" in w:
                ep = w["eq_predicate"]
                preds.append(self.ty(ep["lhs"]) + " = " + self.generic_arg(ep["rhs"]))
        if preds:
            out += " where " + ", ".join(preds)
        return out

    def function(self, name: str, f: dict) -> str:
        h = f.get("header", {})
        quals = ""
        if h.get("is_const"):
            quals += "const "
        if h.get("is_async"):
            quals += "async "
        if h.get("is_unsafe"):
            quals += "unsafe "
        g = f.get("generics", {})
        params_only = dict(g, where_predicates=[])
        where = self.generics({"params": [], "where_predicates": g.get("where_predicates", [])})
        return f"{quals}fn{self.generics(params_only)}{self.sig(f['sig'])}{where}"

    # ---- items -------------------------------------------------------
    def emit(self, path: str, kind: str, detail: str = "") -> None:
        self.lines.add(f"{path} {kind}" + (f" {detail}" if detail else ""))

    def is_public(self, item: dict) -> bool:
        return item.get("visibility") in ("public", "default")

    def hidden(self, item: dict) -> bool:
        for a in item.get("attrs", []):
            text = a if isinstance(a, str) else json.dumps(a)
            if "doc(hidden)" in text.replace(" ", "") or '"hidden"' in text:
                return True
        return False

    def walk_module(self, path: str, module_id, seen: set) -> None:
        if module_id in seen:
            return
        seen = seen | {module_id}
        module = self.index[str(module_id)]
        for child in module["inner"]["module"]["items"]:
            self.item(path, child, seen)

    def item(self, parent: str, item_id, seen: set, name_override: str | None = None) -> None:
        item = self.index.get(str(item_id))
        if item is None:
            return
        if not self.is_public(item) or self.hidden(item):
            return
        kind, inner = next(iter(item["inner"].items()))
        name = name_override or item.get("name")
        path = f"{parent}::{name}" if name else parent
        if kind == "use":
            self.reexport(parent, inner, seen)
        elif kind == "module":
            self.emit(path, "mod")
            self.walk_module(path, item_id, seen)
        elif kind == "function":
            self.emit(path, self.function(name, inner))
        elif kind in ("struct", "union"):
            self.emit(path, kind, self.generics(inner.get("generics")))
            if kind == "struct":
                sk = inner.get("kind", {})
                if isinstance(sk, dict) and "plain" in sk:
                    for fid in sk["plain"].get("fields", []):
                        self.field(path, fid)
                elif isinstance(sk, dict) and "tuple" in sk:
                    for i, fid in enumerate(sk["tuple"]):
                        if fid is not None:
                            self.field(path, fid, str(i))
            self.impls(path, inner.get("impls", []))
        elif kind == "enum":
            self.emit(path, "enum", self.generics(inner.get("generics")))
            for vid in inner.get("variants", []):
                v = self.index.get(str(vid))
                if v is not None:
                    self.emit(f"{path}::{v['name']}", "variant", self.variant(v["inner"]["variant"]))
            self.impls(path, inner.get("impls", []))
        elif kind == "trait":
            detail = self.generics(inner.get("generics"))
            if inner.get("bounds"):
                detail += ": " + self.bounds(inner["bounds"])
            self.emit(path, "trait", detail.strip())
            for mid in inner.get("items", []):
                self.assoc(path, mid)
        elif kind == "type_alias":
            self.emit(path, "type", "= " + self.ty(inner["type"]))
        elif kind == "constant":
            self.emit(path, "const", ": " + self.ty(inner["type"]))
        elif kind == "static":
            self.emit(path, "static", ": " + self.ty(inner["type"]))
        elif kind == "macro":
            self.emit(path, "macro")
        elif kind == "proc_macro":
            self.emit(path, "proc_macro", inner.get("kind", ""))
        else:
            self.emit(path, "?" + kind)

    def variant(self, v: dict) -> str:
        k = v.get("kind")
        if isinstance(k, dict) and "tuple" in k:
            return "(" + ", ".join(
                self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_"
                for f in k["tuple"]
            ) + ")"
        if isinstance(k, dict) and "struct" in k:
            return "{ " + ", ".join(
                f"{self.index[str(f)]['name']}: {self.ty(self.index[str(f)]['inner']['struct_field'])}"
                for f in k["struct"].get("fields", [])
            ) + " }"
        return ""

    def field(self, path: str, fid, name: str | None = None) -> None:
        f = self.index.get(str(fid))
        if f is None or not self.is_public(f):
            return
        self.emit(f"{path}::{name or f['name']}", "field", ": " + self.ty(f["inner"]["struct_field"]))

    def assoc(self, path: str, mid, in_trait_impl: bool = False) -> None:
        m = self.index.get(str(mid))
        if m is None or self.hidden(m):
            return
        kind, inner = next(iter(m["inner"].items()))
        if kind == "function":
            self.emit(f"{path}::{m['name']}", self.function(m["name"], inner))
        elif kind == "assoc_const":
            self.emit(f"{path}::{m['name']}", "assoc const", ": " + self.ty(inner["type"]))
        elif kind == "assoc_type":
            self.emit(f"{path}::{m['name']}", "assoc type")
        else:
            self.emit(f"{path}::{m['name']}", "?" + kind)

    def impls(self, path: str, impl_ids) -> None:
        for iid in impl_ids:
            imp = self.index.get(str(iid))
            if imp is None:
                continue
            inner = imp["inner"]["impl"]
            if inner.get("is_synthetic") or inner.get("blanket_impl") is not None:
                continue
            if inner.get("trait") is None:
                for mid in inner.get("items", []):
                    m = self.index.get(str(mid))
                    if m is not None and self.is_public(m):
                        self.assoc(path, mid)
            else:
                neg = "!" if inner.get("is_negative") else ""
                self.emit(path, "impl", neg + self.path_name(inner["trait"])
                          + " for " + self.ty(inner.get("for")))

    def reexport(self, parent: str, u: dict, seen: set) -> None:
        target = u.get("id")
        local = target is not None and str(target) in self.index
        if u.get("is_glob"):
            if local and "module" in self.index[str(target)]["inner"]:
                self.walk_module(parent, target, seen)
            else:
                self.emit(f"{parent}::*", "use", u["source"] + "::*")
            return
        if local and str(target) in self.home and self.home[str(target)] != f"{parent}::{u['name']}":
            self.emit(f"{parent}::{u['name']}", "use", self.home[str(target)])
        elif local:
            self.item(parent, target, seen, name_override=u["name"])
        else:
            self.emit(f"{parent}::{u['name']}", "use", u["source"])

    def homes(self, path: str, module_id) -> None:
        for child in self.index[str(module_id)]["inner"]["module"]["items"]:
            item = self.index.get(str(child))
            if item is None or not self.is_public(item) or self.hidden(item):
                continue
            kind = next(iter(item["inner"]))
            if kind == "use":
                u = item["inner"]["use"]
                target = u.get("id")
                if not u.get("is_glob") and target is not None and str(target) in self.index:
                    self.home.setdefault(str(target), f"{path}::{u['name']}")
                continue
            if not item.get("name"):
                continue
            here = f"{path}::{item['name']}"
            self.home.setdefault(str(child), here)
            if kind == "module":
                self.homes(here, child)

    def render(self) -> list[str]:
        root = self.index[str(self.doc["root"])]
        name = root["name"]
        self.homes(name, self.doc["root"])
        self.emit(name, "crate")
        self.walk_module(name, self.doc["root"], set())
        return sorted(self.lines)


def snapshot(crate: str) -> str:
    doc = json.loads(json_path(crate).read_text())
    header = (
        f"# The public API of {crate} (all features), from rustdoc JSON format "
        f"{doc.get('format_version')}.\n"
        "# Generated by .ci/public-api.py; update with `python3 .ci/public-api.py`.\n"
    )
    return header + "\n".join(Renderer(doc).render()) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail with a diff when api/ is stale")
    ap.add_argument("--no-build", action="store_true", help="reuse target/doc/<crate>.json")
    ap.add_argument("crates", nargs="*", default=CRATES)
    args = ap.parse_args()
    stale = False
    for crate in args.crates:
        if not args.no_build:
            build(crate)
        text = snapshot(crate)
        out = ROOT / "api" / f"{crate}.txt"
        old = out.read_text() if out.exists() else ""
        if args.check:
            if old != text:
                stale = True
                sys.stdout.writelines(difflib.unified_diff(
                    old.splitlines(keepends=True), text.splitlines(keepends=True),
                    f"api/{crate}.txt (checked in)", f"api/{crate}.txt (from the code)"))
        elif old != text:
            out.parent.mkdir(exist_ok=True)
            out.write_text(text)
            print(f"updated api/{crate}.txt")
    if stale:
        print("\nThe public API changed. If that is intended, run "
              "`python3 .ci/public-api.py` and commit api/.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
