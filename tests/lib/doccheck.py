#!/usr/bin/env python3
"""doccheck.py — checks README.md and docs/*.md against the kiln binary (tests/integration/
test_docs.sh). Subcommands, each given the Markdown files; exit status 1 and one line per
problem when something is wrong:

  help-in-table  every flag `kiln --help` lists has a row in README's flag table
  table-exists   every flag of that table exists: a "yes" row is a flag --help lists and the
                 parser accepts, a "no"/"not implemented" row is refused with kiln's
                 not-implemented error
  docs-flags     every flag the docs name is one `kiln --help` lists: `--x` in inline code and
                 --x in fenced code blocks (except on lines that run another program, see
                 OTHER_COMMANDS; Dockerfile instruction flags, see DOCKERFILE_FLAGS, are not
                 kiln's). A flag --help lacks (kaniko's hidden `--bucket`, a deprecated alias
                 such as --whitelist-var-run) may be named only if kiln refuses it as not
                 implemented: the sentence then says so, and `claims` checks that.
  claims         every claim that something is not there is true, by running kiln

What a claim is, and how one is checked: a sentence (a paragraph or table row split at ". ")
that says "not implemented", "not yet", "unimplemented", "refused", "refuses" or "cannot …
yet" ("can't", "does not", "doesn't"). In a row of
README's flag table the first cell (the flag) is not part of the claim. Every inline-code token
of a claim must name something kiln refuses, and is probed:
  `s3://…`, `gs://…`       a build context of that kind
  `…oci:…`                 --cache-repo oci:<path>
  `RUN|COPY|ADD --flag`    a Dockerfile using that instruction flag
  `--flag`                 the executor flag
  a quoted error message   ("… not implemented …") must be what one of the probes printed
and so are these words outside code: "Azure" (an Azure Blob context), "ADD of git
repositories". A probe passes when kiln exits non-zero saying "not implemented", "refused" or
"not supported". A token that is none of these, or a claim with nothing to probe and no link
to the page that has the list, fails: claims are written so that they can be checked.
"""
import argparse
import os
import re
import subprocess
import sys

CLAIM_RE = re.compile(r"not implemented|not yet|unimplemented|\brefused\b|\brefuses\b"
                      r"|\b(?:cannot|can't|does not|doesn't)\b[^.]*\byet\b", re.I)
REFUSED_RE = re.compile(r"not implemented|refused|not supported", re.I)
# Dockerfile instruction flags named in the docs (COPY --from, RUN --mount, ...): not kiln's
DOCKERFILE_FLAGS = {"--from", "--chown", "--chmod", "--parents", "--exclude", "--link",
                    "--checksum", "--mount", "--network", "--security", "--platform",
                    "--keep-git-dir", "--interval", "--timeout", "--start-period", "--retries"}
# other programs' flags quoted in the prose: systemd-nspawn's --suppress-sync
OTHER_FLAGS = {"--suppress-sync"}
# fenced-code lines that run another program
OTHER_COMMANDS = {"docker", "kubectl", "skopeo", "buildah", "apt-get", "git", "curl", "helm",
                  "gcloud", "aws", "tkn", "podman", "crane", "umoci", "runc"}

problems = []


def problem(msg):
    problems.append(msg)


def run(args, work):
    p = subprocess.run(args, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace")


class Kiln:
    def __init__(self, binary, work, base):
        self.bin, self.work, self.base = binary, work, base
        os.makedirs(work, exist_ok=True)
        self.ctx = os.path.join(work, "ctx")
        os.makedirs(self.ctx, exist_ok=True)
        self._help = None
        self._known = {}

    def help_flags(self):
        if self._help is None:
            rc, out = run([self.bin, "--help"], self.work)
            if rc != 0:
                problem("kiln --help failed: " + out[-300:])
            self._help = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", out, re.M))
        return self._help

    def flag_output(self, flag):
        """what the parser says to the flag alone, then with a value"""
        # --no-push: kiln checks for a destination before it refuses unimplemented flags
        rc, out = run([self.bin, "--no-push", flag], self.work)
        if "needs an argument" in out:
            rc, out = run([self.bin, "--no-push", flag, "x"], self.work)
        return rc, out

    def flag_exists(self, flag):
        if flag not in self._known:
            rc, out = self.flag_output(flag)
            self._known[flag] = "unknown flag" not in out and "unknown shorthand" not in out
        return self._known[flag]

    def flag_refused(self, flag):
        rc, out = self.flag_output(flag)
        want = "flag %s is not implemented yet in kiln" % flag
        return rc != 0 and want in out, out

    def build(self, *args, dockerfile=None):
        if dockerfile is not None:
            with open(os.path.join(self.ctx, "Dockerfile"), "w") as f:
                f.write(dockerfile)
        argv = [self.bin, "--no-push", "--insecure-pull", "--log-format", "text",
                "--kaniko-dir", os.path.join(self.work, "kaniko")]
        if not any(a.startswith("--context") for a in args):
            argv += ["--context", self.ctx]
        return run(argv + list(args), self.work)


def refused(rc, out):
    return rc != 0 and REFUSED_RE.search(out) is not None


# ---- Markdown ------------------------------------------------------------------------------

def blocks(path):
    """(line number, text) of each paragraph or table row outside fenced code"""
    out, cur, start, fenced = [], [], 0, False
    with open(path) as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            if cur:
                out.append((start, " ".join(cur)))
                cur = []
            continue
        if fenced:
            continue
        if line.startswith("|"):
            if cur:
                out.append((start, " ".join(cur)))
                cur = []
            out.append((n, line))
            continue
        if not line.strip() or line.startswith("#") or re.match(r"\s*[-*] ", line):
            if cur:
                out.append((start, " ".join(cur)))
                cur = []
            if not line.strip() or line.startswith("#"):
                continue
        if not cur:
            start = n
        cur.append(line.strip())
    if cur:
        out.append((start, " ".join(cur)))
    return out


def code_tokens(text):
    return re.findall(r"`([^`]+)`", text)


def expand_flag(tok):
    """`--image-name(-tag)-with-digest-file` names both flags; `--x=value` names --x"""
    m = re.match(r"(--[a-zA-Z][\w-]*)(?:\(([\w-]+)\)([\w-]*))?", tok)
    if not m:
        return []
    if m.group(2):
        return [m.group(1) + m.group(3), m.group(1) + m.group(2) + m.group(3)]
    return [m.group(1)]


def readme_table(paths):
    """flag -> state cell of README's flag table"""
    table = {}
    readme = [p for p in paths if os.path.basename(p) == "README.md"]
    for p in readme:
        for n, text in blocks(p):
            cells = [c.strip() for c in text.strip().strip("|").split("|")]
            if len(cells) < 2:
                continue
            flags = re.findall(r"`(--[\w-]+)`", cells[0])
            if flags and re.fullmatch(r"(`-\w`, )?`--[\w-]+`", cells[0]):
                table[flags[-1]] = (cells[1], "%s:%d" % (p, n))
    return table


# ---- the checks ----------------------------------------------------------------------------

def check_help_in_table(k, paths):
    table = readme_table(paths)
    for f in sorted(k.help_flags()):
        if f not in table:
            problem("--help lists %s, README's flag table does not" % f)


def check_table_exists(k, paths):
    table = readme_table(paths)
    if not table:
        problem("no flag table in README.md")
    for f, (state, where) in sorted(table.items()):
        if not k.flag_exists(f):
            problem("%s: README's flag table lists %s, kiln does not know it" % (where, f))
        elif state.lower().startswith("yes"):
            ok, out = k.flag_refused(f)
            if ok:
                problem("%s: the table says %s works, kiln refuses it" % (where, f))
            elif f not in k.help_flags():
                problem("%s: the table says %s works, --help does not list it" % (where, f))
        else:
            ok, out = k.flag_refused(f)
            if not ok:
                problem("%s: the table says %s is '%s', kiln accepts it" % (where, f, state))


def check_docs_flags(k, paths):
    for p in paths:
        with open(p) as fh:
            lines = fh.read().split("\n")
        fenced, other = False, False
        for n, line in enumerate(lines, 1):
            if line.lstrip().startswith("```"):
                fenced, other = not fenced, False
                continue
            named = []
            if fenced:
                words = re.split(r"[\s|;&()]+", line.strip().lstrip("$ "))
                continued = n > 1 and lines[n - 2].rstrip().endswith("\\")
                if not continued:
                    other = any(os.path.basename(w) in OTHER_COMMANDS for w in words)
                if not other:
                    named = re.findall(r"(?:^|[\s\"'\[,])(--[a-zA-Z][\w-]*)", line)
            else:
                for tok in code_tokens(line):
                    if tok.startswith("--"):
                        named += expand_flag(tok)
            for f in named:
                if f in DOCKERFILE_FLAGS or f in OTHER_FLAGS:
                    continue
                if not k.flag_exists(f):
                    problem("%s:%d: names %s, which kiln does not know" % (p, n, f))
                elif f not in k.help_flags() and not k.flag_refused(f)[0]:
                    problem("%s:%d: names %s, which --help does not list" % (p, n, f))


def probe_token(k, tok):
    """(checked, passed, output) for one inline-code token of a claim"""
    if tok.startswith("s3://") or tok.startswith("gs://"):
        scheme = tok[:5]
        rc, out = k.build("--context", scheme + "bucket/context.tar.gz")
        return True, refused(rc, out), out
    if "oci:" in tok:
        rc, out = k.build("--cache", "--cache-repo", "oci:" + os.path.join(k.work, "oci"),
                          dockerfile="FROM scratch\n")
        return True, refused(rc, out), out
    m = re.fullmatch(r"(RUN|COPY|ADD) (--[\w-]+)(?:=\S*)?", tok)
    if m:
        instr, flag = m.groups()
        body = {"RUN": "RUN %s=x true", "COPY": "COPY %s=x Dockerfile /x",
                "ADD": "ADD %s=x Dockerfile /x"}[instr] % flag
        rc, out = k.build(dockerfile="FROM %s\n%s\n" % (k.base, body))
        return True, refused(rc, out), out
    if re.fullmatch(r"--[a-zA-Z][\w-]*(=\S*)?", tok):
        flags = expand_flag(tok)
        outs, ok = "", True
        for f in flags:
            r, out = k.flag_refused(f)
            ok, outs = ok and r, outs + out
        return True, ok, outs
    return False, False, ""


def check_claims(k, paths):
    table = readme_table(paths)
    for p in paths:
        for n, text in blocks(p):
            if text.startswith("|"):
                cells = [c.strip() for c in text.strip().strip("|").split("|")]
                if re.fullmatch(r"(`-\w`, )?`--[\w-]+`", cells[0]) and table:
                    cells = cells[1:]
                text = " | ".join(cells)
            for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z`*])", text):
                if not CLAIM_RE.search(sentence):
                    continue
                where = "%s:%d" % (p, n)
                outputs, checked, messages = [], 0, []
                for tok in code_tokens(sentence):
                    if "not implemented" in tok or "refused" in tok:
                        messages.append(tok)
                        continue
                    ok_kind, passed, out = probe_token(k, tok)
                    if not ok_kind:
                        problem("%s: claim names `%s`, which no probe checks: %s"
                                % (where, tok, sentence))
                        continue
                    checked += 1
                    outputs.append(out)
                    if not passed:
                        problem("%s: says `%s` is not there, kiln does not refuse it: %s"
                                % (where, tok, out.strip()[-300:]))
                prose = re.sub(r"`[^`]+`", "", sentence)
                if re.search(r"\bAzure\b", prose):
                    rc, out = k.build("--context",
                                      "https://account.blob.core.windows.net/c/context.tar.gz")
                    checked += 1
                    outputs.append(out)
                    if not refused(rc, out):
                        problem("%s: says Azure contexts are not there, kiln does not refuse "
                                "one: %s" % (where, out.strip()[-300:]))
                if re.search(r"ADD of (a )?git repositor", prose):
                    rc, out = k.build(dockerfile="FROM %s\nADD git@example.com:a/b.git /b\n"
                                      % k.base)
                    checked += 1
                    outputs.append(out)
                    if not refused(rc, out):
                        problem("%s: says ADD of git repositories is not there, kiln does not "
                                "refuse it: %s" % (where, out.strip()[-300:]))
                for msg in messages:
                    if not any(msg in o for o in outputs):
                        problem("%s: quotes the message `%s`, which no probe of the claim "
                                "printed" % (where, msg))
                if checked == 0 and not re.search(r"\]\([^)]+\.md", sentence):
                    problem("%s: a claim with nothing to check (name what is refused, in "
                            "code, or link to the list): %s" % (where, sentence))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--base-image", required=True)
    ap.add_argument("check", choices=["help-in-table", "table-exists", "docs-flags", "claims"])
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    k = Kiln(a.kiln, a.work, a.base_image)
    {"help-in-table": check_help_in_table, "table-exists": check_table_exists,
     "docs-flags": check_docs_flags, "claims": check_claims}[a.check](k, a.files)
    for p in problems:
        print(p)
    print("%s: %d problem(s)" % (a.check, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
