//! GGUF chat templates read as Jinja, never rendered. A serving stack that renders them with
//! an unsandboxed Jinja (llama-cpp-python before 0.2.72, CVE-2024-34359) runs whatever Python
//! the template reaches through `__class__`, `__globals__` and the like. A substring list of
//! such names is beaten by spelling them differently, so the expressions are read token by
//! token:
//!
//! - an attribute whose name starts with `_` (`x.__class__`, `x._foo`): dangerous — a sandbox
//!   refuses it, and no chat template needs one;
//! - a string that is, or folds to, something holding `__`: adjacent literals (`'_''_'`), `~`
//!   and `+` chains, `* n`, a list `|join`ed, `|reverse`, `|replace`, `|lower`/`|upper`, a
//!   character taken by index — dangerous;
//! - the spelling tools of such payloads: a string written with escapes that stand for letters,
//!   digits or `_` (`'\x5f'`, `'\u005f'`, `'\137'`), a string of underscores alone, the `attr`
//!   filter, `format` with `%c` — suspicious.
//!
//! The 70 chat templates that llama.cpp ships with its sources (`models/templates/`, in the
//! `llama-cpp-python` sdist) pass clean (`bench/gguf_templates.sh`).

use crate::policy::Verdict;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A string literal's value, and whether escapes spelled identifier characters in it.
    Str(String, bool),
    Name(String),
    Int(i64),
    Punct(char),
}

/// The text of every `{{ … }}` and `{% … %}` (comments `{# … #}` skipped).
fn expressions(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let close = match after.chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => {
                rest = after.find("#}").map_or("", |e| &after[e + 2..]);
                continue;
            }
            _ => {
                rest = after;
                continue;
            }
        };
        let body = &after[1..];
        // The closing delimiter, not one inside a string literal.
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match quote {
                Some(q) => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == q {
                        quote = None;
                    }
                }
                None if c == '\'' || c == '"' => quote = Some(c),
                None if body[i..].starts_with(close) => {
                    end = i;
                    break;
                }
                None => {}
            }
        }
        out.push(&body[..end]);
        rest = body.get(end + close.len()..).unwrap_or("");
    }
    out
}

/// Decodes a Jinja (Python) string literal's escapes; the flag says whether an escape spelled
/// a letter, a digit or `_`, which no template needs to write that way.
fn unescape(raw: &str) -> (String, bool) {
    let mut out = String::new();
    let mut disguised = false;
    let mut chars = raw.chars().peekable();
    let push_code = |out: &mut String, code: Option<u32>, disguised: &mut bool| {
        if let Some(c) = code.and_then(char::from_u32) {
            if c.is_ascii_alphanumeric() || c == '_' {
                *disguised = true;
            }
            out.push(c);
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('x') => {
                let h: String = chars.by_ref().take(2).collect();
                push_code(&mut out, u32::from_str_radix(&h, 16).ok(), &mut disguised);
            }
            Some('u') => {
                let h: String = chars.by_ref().take(4).collect();
                push_code(&mut out, u32::from_str_radix(&h, 16).ok(), &mut disguised);
            }
            Some('U') => {
                let h: String = chars.by_ref().take(8).collect();
                push_code(&mut out, u32::from_str_radix(&h, 16).ok(), &mut disguised);
            }
            Some(d @ '0'..='7') => {
                let mut o = d.to_string();
                while o.len() < 3 && chars.peek().is_some_and(|c| ('0'..='7').contains(c)) {
                    o.push(chars.next().unwrap_or('0'));
                }
                push_code(&mut out, u32::from_str_radix(&o, 8).ok(), &mut disguised);
            }
            Some('N') => {
                // \N{LOW LINE} and other named characters: only a disguise would use one here.
                disguised = true;
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
            }
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    (out, disguised)
}

fn tokens(expr: &str) -> Vec<Tok> {
    let b: Vec<char> = expr.chars().collect();
    let mut out: Vec<Tok> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '\'' || c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != c {
                if b[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            let raw: String = b[i + 1..j.min(b.len())].iter().collect();
            let (value, disguised) = unescape(&raw);
            // Adjacent literals are one string, as in Python.
            match out.last_mut() {
                Some(Tok::Str(prev, d)) => {
                    prev.push_str(&value);
                    *d |= disguised;
                }
                _ => out.push(Tok::Str(value, disguised)),
            }
            i = j + 1;
        } else if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(b[s..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let text: String = b[s..i].iter().collect();
            out.push(Tok::Int(text.parse().unwrap_or(i64::MAX)));
        } else {
            if !c.is_whitespace() {
                out.push(Tok::Punct(c));
            }
            i += 1;
        }
    }
    out
}

/// Folds the constant string expression that starts at `toks[0]`, if there is one:
/// concatenation, repetition, lists joined, indexing and the string filters.
struct Folder<'a> {
    toks: &'a [Tok],
    pos: usize,
    depth: usize,
}

impl Folder<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn concat(&mut self) -> Option<String> {
        self.depth += 1;
        if self.depth > 64 {
            return None;
        }
        let mut s = self.repeat()?;
        while self.eat('~') || self.eat('+') {
            s.push_str(&self.repeat()?);
            if s.len() > 1 << 16 {
                return None;
            }
        }
        Some(s)
    }

    fn repeat(&mut self) -> Option<String> {
        let s = self.filtered()?;
        if self.eat('*') {
            if let Some(Tok::Int(n)) = self.peek().cloned() {
                self.pos += 1;
                return Some(s.repeat(usize::try_from(n).ok()?.min(64)));
            }
            return None;
        }
        Some(s)
    }

    fn filtered(&mut self) -> Option<String> {
        let mut value = self.atom()?;
        loop {
            if self.eat('[') {
                let Some(Tok::Int(n)) = self.peek().cloned() else {
                    return None;
                };
                self.pos += 1;
                if !self.eat(']') {
                    return None;
                }
                value = vec![value
                    .concat()
                    .chars()
                    .nth(usize::try_from(n).ok()?)?
                    .to_string()];
                continue;
            }
            if !self.eat('|') {
                break;
            }
            let Some(Tok::Name(filter)) = self.peek().cloned() else {
                return None;
            };
            self.pos += 1;
            let mut args = Vec::new();
            if self.eat('(') {
                while !self.eat(')') {
                    args.push(self.concat()?);
                    self.eat(',');
                }
            }
            let joined = value.concat();
            value = match filter.as_str() {
                "join" => vec![value.join(args.first().map_or("", String::as_str))],
                "reverse" if value.len() == 1 => vec![joined.chars().rev().collect()],
                "reverse" => value.into_iter().rev().collect(),
                "lower" => vec![joined.to_lowercase()],
                "upper" => vec![joined.to_uppercase()],
                "first" => vec![joined.chars().next()?.to_string()],
                "last" => vec![joined.chars().last()?.to_string()],
                "replace" if args.len() == 2 => vec![joined.replace(&args[0], &args[1])],
                "string" | "trim" => vec![joined.trim().to_string()],
                _ => return None,
            };
        }
        Some(value.concat())
    }

    /// A literal, a parenthesised expression, or a list of expressions (kept as items).
    fn atom(&mut self) -> Option<Vec<String>> {
        match self.peek().cloned()? {
            Tok::Str(s, _) => {
                self.pos += 1;
                Some(vec![s])
            }
            Tok::Punct('(') => {
                self.pos += 1;
                let s = self.concat()?;
                self.eat(')').then_some(vec![s])
            }
            Tok::Punct('[') => {
                self.pos += 1;
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.concat()?);
                    if !self.eat(',') && self.peek() != Some(&Tok::Punct(']')) {
                        return None;
                    }
                }
                Some(items)
            }
            _ => None,
        }
    }
}

/// A string that names, or starts, a dunder attribute: `__` followed by a letter
/// (`__class__`, `__init`), unlike a rule of underscores or markdown's `__bold__` markers
/// around a space.
fn dunder_like(s: &str) -> bool {
    s.match_indices("__").any(|(i, _)| {
        s[i + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
    })
}

/// Jinja's default globals that are Python objects whose attributes lead to the interpreter
/// (`cycler.__init__.__globals__`); no chat template uses them.
const GLOBAL_OBJECTS: &[&str] = &["cycler", "joiner", "lipsum", "self", "config", "request"];

/// Variables a serving stack fills from the model's own vocabulary: attacker-controlled in a
/// hostile GGUF, so one used as a key names an attribute without any literal in the template.
const TOKEN_VARIABLES: &[&str] = &[
    "bos_token",
    "eos_token",
    "unk_token",
    "pad_token",
    "sep_token",
    "cls_token",
    "mask_token",
];

/// What the template does that a chat template has no need to, with the verdict each earns.
pub fn judge(template: &str) -> Vec<(Verdict, String)> {
    let mut out: Vec<(Verdict, String)> = Vec::new();
    let mut note = |v: Verdict, why: String| {
        if !out.iter().any(|(_, w)| *w == why) {
            out.push((v, why));
        }
    };
    // Variables set from a string-building expression (`{% set k = u ~ u ~ 'init' %}`).
    let mut assembled: Vec<String> = Vec::new();
    for expr in expressions(template) {
        let toks = tokens(expr);
        let mut built: Vec<String> = Vec::new();
        if let [Tok::Name(set), Tok::Name(var), Tok::Punct('='), rest @ ..] = toks.as_slice() {
            let builds = rest.iter().enumerate().any(|(j, t)| match t {
                Tok::Punct('~' | '%') => true,
                Tok::Name(f) => {
                    j > 0
                        && rest[j - 1] == Tok::Punct('|')
                        && matches!(
                            f.as_str(),
                            "join" | "format" | "replace" | "reverse" | "string" | "first" | "last"
                        )
                }
                _ => false,
            });
            if set == "set" && builds {
                assembled.push(var.clone());
            }
        }
        let punct = |i: usize, c: char| toks.get(i) == Some(&Tok::Punct(c));
        for (i, t) in toks.iter().enumerate() {
            let after = |c: char| i > 0 && punct(i - 1, c);
            match t {
                Tok::Name(n) if n.starts_with('_') && (after('.') || n.starts_with("__")) => {
                    note(Verdict::Dangerous, format!("reaches the private name {n:?}"))
                }
                Tok::Name(n) if GLOBAL_OBJECTS.contains(&n.as_str()) && !after('.') => note(
                    Verdict::Suspicious,
                    format!("uses Jinja's global object {n:?}, whose attributes lead to the interpreter"),
                ),
                Tok::Name(n) if n == "attr" && after('|') => note(
                    Verdict::Suspicious,
                    "uses the attr filter (attribute access by a computed name)".into(),
                ),
                Tok::Name(n)
                    if n == "attribute"
                        && punct(i + 1, '=')
                        && !matches!(toks.get(i + 2), Some(Tok::Str(s, _)) if !s.starts_with('_')) =>
                {
                    note(
                        Verdict::Suspicious,
                        "maps over attributes by a computed name".into(),
                    )
                }
                Tok::Str(s, disguised) => {
                    if *disguised {
                        note(
                            Verdict::Suspicious,
                            format!("spells {s:?} with escapes for plain characters"),
                        );
                    }
                    let formats_chars = (s.contains("%c") && (punct(i + 1, '%') || punct(i + 1, '|')))
                        || (s.contains(":c}") && punct(i + 1, '.'));
                    if formats_chars {
                        note(
                            Verdict::Suspicious,
                            "builds characters from their codes (%c / {:c})".into(),
                        );
                    }
                    if dunder_like(s) {
                        built.push(s.clone());
                    }
                }
                Tok::Punct('[') if i > 0 => {
                    // A key that is neither a literal nor arithmetic, on a literal or on a
                    // call's result: `()[name]` reaches attributes (Jinja's getitem falls back
                    // to getattr).
                    let on_value = matches!(toks[i - 1], Tok::Str(..) | Tok::Punct(')') | Tok::Punct(']'));
                    match toks.get(i + 1) {
                        Some(Tok::Name(k)) if TOKEN_VARIABLES.contains(&k.as_str()) => note(
                            Verdict::Suspicious,
                            format!("uses the vocabulary's {k} as a key"),
                        ),
                        Some(Tok::Name(k)) if assembled.contains(k) => note(
                            Verdict::Suspicious,
                            format!("uses the assembled string {k:?} as a key"),
                        ),
                        Some(Tok::Name(k)) if on_value && k != "loop" => note(
                            Verdict::Suspicious,
                            format!("subscripts a value with the computed name {k:?}"),
                        ),
                        _ => {}
                    }
                }
                _ => {}
            }
            // Fold each constant chain once, from its start: starting inside a chain again
            // would make a long chain quadratic.
            let inside_chain =
                i > 0 && (punct(i - 1, '~') || punct(i - 1, '+') || punct(i - 1, '*'));
            if matches!(t, Tok::Str(..) | Tok::Punct('(') | Tok::Punct('[')) && !inside_chain {
                let mut f = Folder {
                    toks: &toks[i..],
                    pos: 0,
                    depth: 0,
                };
                if let Some(s) = f.concat() {
                    if dunder_like(&s) {
                        built.push(s);
                    } else if f.pos > 1
                        && !s.is_empty()
                        && s.chars().all(|c| c == '_')
                        && s.len() <= 2
                    {
                        note(
                            Verdict::Suspicious,
                            format!("assembles the string {s:?} from other strings"),
                        );
                    }
                }
            }
        }
        // Literals joined by ~ or + after a variable (`x ~ '_' ~ '_class'`): one linear pass
        // over each run of literals.
        let mut run = String::new();
        for (i, t) in toks.iter().enumerate() {
            match t {
                Tok::Str(s, _) if i == 0 || punct(i - 1, '~') || punct(i - 1, '+') => {
                    run.push_str(s)
                }
                Tok::Str(s, _) => run = s.clone(),
                Tok::Punct('~' | '+') => continue,
                _ => {
                    if dunder_like(&run) {
                        built.push(std::mem::take(&mut run));
                    }
                    run.clear();
                }
            }
            if run.len() > 1 << 16 {
                run.clear();
            }
        }
        if dunder_like(&run) {
            built.push(run);
        }
        // Name the whole strings only, not the tails of one chain.
        built.sort();
        built.dedup();
        for s in &built {
            if !built
                .iter()
                .any(|o| o.len() > s.len() && o.contains(s.as_str()))
            {
                note(Verdict::Dangerous, format!("builds the string {s:?}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(t: &str) -> Verdict {
        judge(t)
            .into_iter()
            .map(|(v, _)| v)
            .max()
            .unwrap_or(Verdict::Safe)
    }

    /// The constructs real chat templates use (written for this test in their style).
    #[test]
    fn ordinary_templates_pass() {
        for t in [
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
            "{{ bos_token }}{% set ns = namespace(system='') %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.system = m.content %}{% endif %}{% endfor %}",
            "{% if tools %}{{ tools | tojson(indent=2) }}{% endif %}{{ messages[loop.index0 - 1]['content'] }}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}",
            "{# a comment with __class__ in it #}{{ '[INST] ' + message['content'] | upper + ' [/INST]' }}{{ strftime_now('%d %b %Y') }}",
            "{{ message.tool_calls[0].function.arguments | tojson }}{%- if loop.last and not loop.first -%}{{ eos_token }}{%- endif -%}",
        ] {
            assert_eq!(verdict(t), Verdict::Safe, "{t}: {:?}", judge(t));
        }
    }

    #[test]
    fn payloads_in_their_disguises_are_caught() {
        for (t, v) in [
            (
                "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
                Verdict::Dangerous,
            ),
            ("{{ ()['__class__'] }}", Verdict::Dangerous),
            ("{{ ()['_''_cla''ss_''_'] }}", Verdict::Dangerous),
            (
                "{% set u = '_' * 2 %}{{ ()[u ~ 'class' ~ u] }}",
                Verdict::Suspicious,
            ),
            ("{{ ()['_' * 2 ~ 'class' ~ '_' * 2] }}", Verdict::Dangerous),
            (
                "{{ ()[['_','_','class','_','_']|join] }}",
                Verdict::Dangerous,
            ),
            ("{{ ()['__ssalc__'|reverse] }}", Verdict::Dangerous),
            (
                "{{ ()['xxclassxx'|replace('x', '_')] }}",
                Verdict::Dangerous,
            ),
            ("{{ ()['\\x5f\\x5fclass\\x5f\\x5f'] }}", Verdict::Dangerous),
            ("{{ ()['\\u005fclass'] }}", Verdict::Suspicious),
            ("{{ ()['\\137class'] }}", Verdict::Suspicious),
            ("{{ ()|attr(x) }}", Verdict::Suspicious),
            (
                "{{ ()['%c%cclass%c%c'|format(95,95,95,95)] }}",
                Verdict::Suspicious,
            ),
            ("{{ x._TemplateReference__context }}", Verdict::Dangerous),
            ("{{ ('a_'[1] ~ 'b_'[1]) ~ 'class' }}", Verdict::Dangerous),
        ] {
            assert!(verdict(t) >= v, "{t}: {:?}", judge(t));
        }
    }

    /// Found by a hostile trial: each one rendered by an unsandboxed jinja2 ran a command.
    #[test]
    fn payloads_without_any_dunder_literal_are_caught() {
        for t in [
            "{% set u='x_'[-1] %}{% set i=u~u~'init'~u~u %}{% set g=u~u~'glob'~'als'~u~u %}{{ cycler[i][g]['o'~'s']['po'~'pen']('echo PWNED').read() }}",
            "{% set u = '%c' % 95 %}{{ u }}",
            "{% set u = '{:c}'.format(95) %}{{ u }}",
            "{% set u = (lipsum|string)[18] %}{{ u }}",
            "{% set u = 'x_x'|replace('x','') %}{{ u }}",
            "{{ cycler[bos_token][eos_token] }}",
            "{{ messages[bos_token] }}",
            "{{ [()]|map(attribute=k)|list }}",
            "{% set k = u ~ u ~ 'class' ~ u ~ u %}{{ messages[k] }}",
            "{{ ()[k] }}",
            "{{ x ~ '_' ~ '_class' }}",
        ] {
            assert!(verdict(t) >= Verdict::Suspicious, "{t}: {:?}", judge(t));
        }
    }

    #[test]
    fn underscores_in_ordinary_text_are_not_payloads() {
        for t in [
            "{{ '_' * 40 }}",
            "{{ '__' ~ m['role'] ~ '__: ' }}",
            "{{ '\\n________\\n' }}",
            "{{ m['name'] | replace('_', ' ') }}",
            "{{ tool['function']['name'] }}{{ messages[-1]['content'] }}",
        ] {
            assert_eq!(verdict(t), Verdict::Safe, "{t}: {:?}", judge(t));
        }
    }

    #[test]
    fn a_long_chain_is_folded_once() {
        let t = format!("{{{{ {} }}}}", vec!["'_'"; 100_000].join(" ~ "));
        let started = std::time::Instant::now();
        let _ = judge(&t);
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn hostile_shapes_do_not_hang_or_panic() {
        let deep = format!("{{{{ {}'a'{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
        let _ = judge(&deep);
        let _ = judge("{{ 'unterminated");
        let _ = judge("{% if x %}{{ '\\x' }}{{ '\\u12' }}{{ 'a' * 99999999999999999999 }}");
        let _ = judge("{{ ['a'] * 5 | join }}{{ 'é'[3] }}{{ ''|first }}");
    }
}
