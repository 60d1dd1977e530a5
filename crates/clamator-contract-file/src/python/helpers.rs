//! The helpers a generated module may need (format checks and the like).

/// A helper of the generated module: the standard modules it needs and its code.
pub(super) fn helper(name: &str) -> (&'static [&'static str], &'static str) {
    match name {
        "bool_literal" => (
            &[],
            "def _bool_literal(v: Any) -> Any:\n    \
                 # Literal[True] alone would take 1.\n    \
                 if not isinstance(v, bool):\n        raise ValueError(\"expected a boolean\")\n    return v\n",
        ),
        "number_literal" => (
            &[],
            "def _number_literal(v: Any) -> Any:\n    \
                 # Literal[1] alone would take True; 1.0 is the number 1 (as in JSON and Zod).\n    \
                 if isinstance(v, bool) or not isinstance(v, (int, float)):\n        raise ValueError(\"expected a number\")\n    \
                 return int(v) if isinstance(v, float) and v.is_integer() else v\n",
        ),
        "pattern" => (
            &["re"],
            "def _pattern(source: str) -> AfterValidator:\n    \
                 # JSON Schema `pattern`: an ECMAScript regular expression, searched (not anchored).\n    \
                 # The generator translated it to Python `re` (\\d and \\w are ASCII, $ is the very\n    \
                 # end); `re` rather than pydantic's default Rust engine, which has no lookaround\n    \
                 # or backreferences (Zod's own patterns use lookahead).\n    \
                 compiled = re.compile(source)\n\n    \
                 def check(v: str) -> str:\n        \
                     if compiled.search(v) is None:\n            raise ValueError(f\"does not match the pattern {source!r}\")\n        \
                     return v\n\n    \
                 return AfterValidator(check)\n",
        ),
        "unique" => (
            &["json"],
            "def _json_key(v: Any) -> Any:\n    \
                 if isinstance(v, float) and v.is_integer():\n        return int(v)\n    \
                 if isinstance(v, list):\n        return [_json_key(x) for x in v]\n    \
                 if isinstance(v, dict):\n        return {k: _json_key(x) for k, x in v.items()}\n    \
                 return v\n\n\n\
             def _unique(v: list[Any]) -> list[Any]:\n    \
                 # `uniqueItems`: no two items equal as JSON values (it stays a list).\n    \
                 seen = set()\n    \
                 for item in v:\n        \
                     key = json.dumps(_json_key(to_jsonable_python(item, by_alias=True)), sort_keys=True)\n        \
                     if key in seen:\n            raise ValueError(\"items must be unique\")\n        \
                     seen.add(key)\n    \
                 return v\n",
        ),
        "email" => (
            &["re"],
            "_EMAIL = re.compile(r\"[A-Za-z0-9_'+.-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9-]*\\.)+[A-Za-z]{2,}\")\n\n\n\
             def _email(v: str) -> str:\n    \
                 # What Zod's .email() takes (no email-validator package needed): ASCII local part\n    \
                 # not starting with a dot, no two dots in a row, dotted domain, 2+ letter top level.\n    \
                 if _EMAIL.fullmatch(v) is None or v.startswith(\".\") or \"..\" in v:\n        raise ValueError(\"not an email address\")\n    \
                 return v\n",
        ),
        "uuid" => (
            &["re"],
            "def _uuid(v: str) -> str:\n    \
                 # Zod's .uuid(): 8-4-4-4-12 hexadecimal digits, any version.\n    \
                 if re.fullmatch(r\"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\", v) is None:\n        raise ValueError(\"not a UUID\")\n    \
                 return v\n",
        ),
        "uri" => (
            &["re"],
            "def _uri(v: str) -> str:\n    \
                 # Zod's .url() is `new URL(v)` succeeding: a scheme, and for the web schemes a host.\n    \
                 s = re.sub(r\"[\\t\\n\\r]\", \"\", v.strip(\"\".join(chr(c) for c in range(0x21))))\n    \
                 m = re.fullmatch(r\"([A-Za-z][A-Za-z0-9+.-]*):(.*)\", s, re.S)\n    \
                 ok = m is not None\n    \
                 if m is not None and m.group(1).lower() in (\"http\", \"https\", \"ws\", \"wss\", \"ftp\"):\n        \
                     authority = re.split(r\"[/?#\\\\]\", m.group(2).lstrip(\"/\\\\\"), maxsplit=1)[0]\n        \
                     host = authority.rpartition(\"@\")[2]\n        \
                     if not host.startswith(\"[\"):\n            \
                         host, _, port = host.partition(\":\")\n            \
                         ok = port == \"\" or (port.isascii() and port.isdigit() and int(port) <= 65535)\n        \
                     ok = ok and host != \"\" and re.search(r\"[\\x00-\\x20#%/<>?@\\\\^|]\", host) is None\n    \
                 if not ok:\n        raise ValueError(\"not a URL\")\n    \
                 return v\n",
        ),
        "dates" => (
            &["re"],
            "_DATE = r\"([0-9]{4})-([0-9]{2})-([0-9]{2})\"\n\
             _TIME = r\"(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\\.[0-9]+)?)?\"\n\n\n\
             def _day_exists(year: str, month: str, day: str) -> bool:\n    \
                 y, m, d = int(year), int(month), int(day)\n    \
                 leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)\n    \
                 days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]\n    \
                 return 1 <= m <= 12 and 1 <= d <= days[m - 1]\n\n\n\
             def _date(v: str) -> str:\n    \
                 # Zod's .date(): YYYY-MM-DD, a day that exists.\n    \
                 m = re.fullmatch(_DATE, v)\n    \
                 if m is None or not _day_exists(*m.groups()):\n        raise ValueError(\"not a date (YYYY-MM-DD)\")\n    \
                 return v\n\n\n\
             def _date_time(v: str) -> str:\n    \
                 # Zod's .datetime(): date T HH:MM[:SS[.fraction]] Z (UTC, no offset).\n    \
                 m = re.fullmatch(_DATE + \"T\" + _TIME + \"Z\", v)\n    \
                 if m is None or not _day_exists(*m.groups()):\n        raise ValueError(\"not a date-time (YYYY-MM-DDTHH:MM:SSZ)\")\n    \
                 return v\n\n\n\
             def _time(v: str) -> str:\n    \
                 # Zod's .time(): HH:MM[:SS[.fraction]], no offset.\n    \
                 if re.fullmatch(_TIME, v) is None:\n        raise ValueError(\"not a time (HH:MM:SS)\")\n    \
                 return v\n",
        ),
        "ip" => (
            &["ipaddress", "re"],
            "def _is_ipv4(v: str) -> bool:\n    \
                 parts = v.split(\".\")\n    \
                 return len(parts) == 4 and all(re.fullmatch(r\"0|[1-9][0-9]{0,2}\", p) and int(p) <= 255 for p in parts)\n\n\n\
             def _is_ipv6(v: str) -> bool:\n    \
                 address, percent, zone = v.partition(\"%\")\n    \
                 if percent and not (address.startswith(\"fe80:\") and re.fullmatch(r\"[0-9A-Za-z]+\", zone)):\n        return False\n    \
                 try:\n        ipaddress.IPv6Address(address)\n    except ValueError:\n        return False\n    \
                 return True\n\n\n\
             def _ipv4(v: str) -> str:\n    \
                 if not _is_ipv4(v):\n        raise ValueError(\"not an IPv4 address\")\n    return v\n\n\n\
             def _ipv6(v: str) -> str:\n    \
                 if not _is_ipv6(v):\n        raise ValueError(\"not an IPv6 address\")\n    return v\n\n\n\
             def _ip(v: str) -> str:\n    \
                 if not (_is_ipv4(v) or _is_ipv6(v)):\n        raise ValueError(\"not an IP address\")\n    return v\n",
        ),
        "duration" => (
            &["re"],
            "def _duration(v: str) -> str:\n    \
                 # Zod's .duration(): ISO 8601 (P1Y2M3W4DT5H6M7.5S), signs allowed, units in order,\n    \
                 # at least one, a fraction only on the last one.\n    \
                 m = re.fullmatch(r\"[-+]?P([-+0-9.,YMWD]*)(?:T([-+0-9.,HMS]+))?\", v)\n    \
                 ok = m is not None\n    \
                 numbers: list[str] = []\n    \
                 for part, units in ((m.group(1), \"YMWD\"), (m.group(2) or \"\", \"HMS\")) if m else ():\n        \
                     found = re.findall(r\"([-+]?[0-9]+(?:[.,][0-9]+)?)([A-Z])\", part)\n        \
                     order = [units.find(u) for _, u in found]\n        \
                     ok = ok and \"\".join(n + u for n, u in found) == part and -1 not in order and order == sorted(set(order))\n        \
                     numbers += [n for n, _ in found]\n    \
                 if not ok or not numbers or any(\".\" in n or \",\" in n for n in numbers[:-1]):\n        \
                     raise ValueError(\"not an ISO 8601 duration\")\n    \
                 return v\n",
        ),
        "base64" => (
            &["re"],
            "def _base64(v: str) -> str:\n    \
                 # Zod's .base64(): groups of 4 of A-Z a-z 0-9 + /, padded with = to a multiple of 4.\n    \
                 if len(v) % 4 != 0 or re.fullmatch(r\"[A-Za-z0-9+/]*={0,2}\", v) is None:\n        raise ValueError(\"not base64\")\n    \
                 return v\n",
        ),
        _ => (&[], ""),
    }
}
