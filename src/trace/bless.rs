//! `replay --bless`: the author's text with only the results and the
//! expected bytes replaced.
//!
//! The blessed [`Trace`] says what changed; this module edits the original
//! text token by token, so that everything else — subchannels written
//! `00.0.0000`, upper-case hex, the blanks before a comment, CR LF line
//! ends, a missing final line end — stays exactly as the author wrote it.

use super::ast::{Line, Statement, Trace};

/// The blessed text of a trace: `original` (the text `parsed` was parsed
/// from) with each line whose statement differs in `blessed` edited in
/// place — an instruction's result replaced (or appended after ` => ` when
/// it was left out), an `expect`'s byte tokens replaced one by one. Lines
/// that did not change are copied byte for byte.
#[must_use]
pub fn bless_text(original: &str, parsed: &Trace, blessed: &Trace) -> String {
    let mut out = String::with_capacity(original.len() + 64);
    let mut rest = original;
    let mut idx = 0usize;
    while !rest.is_empty() {
        let (raw, nl, tail) = match rest.find('\n') {
            Some(k) => (&rest[..k], "\n", &rest[k + 1..]),
            None => (rest, "", ""),
        };
        let (body, cr) = match raw.strip_suffix('\r') {
            Some(b) => (b, "\r"),
            None => (raw, ""),
        };
        match (parsed.lines.get(idx), blessed.lines.get(idx)) {
            (Some(p), Some(b)) if p != b => out.push_str(&edit_line(body, b)),
            _ => out.push_str(body),
        }
        out.push_str(cr);
        out.push_str(nl);
        rest = tail;
        idx += 1;
    }
    out
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The tokens of `s` with their byte offsets.
fn tokens(s: &str) -> Vec<(usize, &str)> {
    let mut v = Vec::new();
    let mut start = None;
    for (k, c) in s.char_indices() {
        match (is_blank(c), start) {
            (true, Some(b)) => {
                v.push((b, &s[b..k]));
                start = None;
            }
            (false, None) => start = Some(k),
            _ => {}
        }
    }
    if let Some(b) = start {
        v.push((b, &s[b..]));
    }
    v
}

/// `body` (one line without its end) edited to say what `line` says.
fn edit_line(body: &str, line: &Line) -> String {
    let stmt_end = body.find('#').unwrap_or(body.len());
    let stmt_text = &body[..stmt_end];
    let toks = tokens(stmt_text);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    match &line.stmt {
        Some(Statement::Insn(s)) => {
            let Some(o) = s.outcome else {
                return body.to_owned();
            };
            match toks.iter().position(|(_, t)| *t == "=>") {
                Some(k) => match toks.get(k + 1) {
                    Some(&(at, t)) => edits.push((at, at + t.len(), o.to_string())),
                    None => {
                        let (at, t) = toks[k];
                        edits.push((at + t.len(), at + t.len(), format!(" {o}")));
                    }
                },
                None => {
                    let end = toks.last().map_or(0, |(at, t)| at + t.len());
                    edits.push((end, end, format!(" => {o}")));
                }
            }
        }
        Some(Statement::Expect { data, .. }) => {
            // `expect <addr>` and then one token per group.
            let mut k = 0usize;
            for (g, &(at, t)) in data.groups.iter().zip(toks.iter().skip(2)) {
                let n = usize::try_from(*g).unwrap_or(0);
                let mut tok = String::with_capacity(2 * n);
                for b in data.bytes.iter().skip(k).take(n) {
                    match b {
                        Some(b) => tok.push_str(&format!("{b:02x}")),
                        None => tok.push_str(".."),
                    }
                }
                k += n;
                if !tok.eq_ignore_ascii_case(t) {
                    edits.push((at, at + t.len(), tok));
                }
            }
        }
        Some(Statement::Symbolic(s)) => {
            for p in &s.params {
                let tok = format!("{}={}", p.key, p.value);
                let prefix = format!("{}=", p.key);
                if let Some(&(at, t)) = toks.iter().find(|(_, t)| t.starts_with(&prefix)) {
                    if t != tok {
                        edits.push((at, at + t.len(), tok));
                    }
                }
            }
        }
        // Nothing else changes in a bless; print it canonically should it.
        Some(_) | None => return line.to_string(),
    }
    let mut out = body.to_owned();
    for (from, to, text) in edits.into_iter().rev() {
        out.replace_range(from..to, &text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::parse;

    fn bless_with(original: &str, change: impl FnOnce(&mut Trace)) -> String {
        let parsed = parse(original).unwrap();
        let mut blessed = parsed.clone();
        change(&mut blessed);
        bless_text(original, &parsed, &blessed)
    }

    #[test]
    fn bless_text_unchanged_lines_are_kept_byte_for_byte() {
        let t = "zcss-trace 1\r\ndevice 00.0.0000 devno=0000 virtio-rng   # rng\nstsch 0x10000 0x1000 => cc=0";
        assert_eq!(bless_with(t, |_| {}), t);
    }

    #[test]
    fn bless_text_replaces_only_the_result_token() {
        let t = "zcss-trace 1\nstsch  0x10000 0x1000 =>  cc=3    # first\n";
        let got = bless_with(t, |b| {
            if let Some(Statement::Insn(s)) = &mut b.lines[1].stmt {
                s.outcome = Some(crate::trace::Outcome::Cc(0));
            }
        });
        assert_eq!(got, "zcss-trace 1\nstsch  0x10000 0x1000 =>  cc=0    # first\n");
    }

    #[test]
    fn bless_text_appends_a_left_out_result() {
        let t = "zcss-trace 1\nstsch 0x10000 0x1000   # no result\n";
        let got = bless_with(t, |b| {
            if let Some(Statement::Insn(s)) = &mut b.lines[1].stmt {
                s.outcome = Some(crate::trace::Outcome::Cc(0));
            }
        });
        assert_eq!(got, "zcss-trace 1\nstsch 0x10000 0x1000 => cc=0   # no result\n");
    }

    #[test]
    fn bless_text_replaces_expect_tokens_and_keeps_wildcards() {
        let t = "zcss-trace 1\nexpect 0x1000  AABB..dd\t0000 # x\n";
        let got = bless_with(t, |b| {
            if let Some(Statement::Expect { data, .. }) = &mut b.lines[1].stmt {
                data.bytes[0] = Some(0x11);
                data.bytes[4] = Some(0x01);
            }
        });
        assert_eq!(got, "zcss-trace 1\nexpect 0x1000  11bb..dd\t0100 # x\n");
    }
}
