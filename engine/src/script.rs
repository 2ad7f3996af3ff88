//! Conditions, scripts and `${…}` templates, all evaluated by one sandboxed rhai engine.
//!
//! Camunda models write conditions as JUEL (`${amount > 1000 and not empty owner}`); we accept
//! that by translating the JUEL operator words to rhai before compiling, so one language serves
//! conditions, templates and script tasks. Everything is compiled once, when a model is parsed.

use std::sync::Arc;

use rhai::{AST, Dynamic, Engine, Scope};

use crate::value::{Value, Variables};

/// A compiled condition or single expression.
#[derive(Debug)]
pub struct Expression {
    pub source: String,
    ast: AST,
}

/// A compiled script-task body, with the names it assigns at top level (those are created as
/// process variables even when they did not exist before the script ran).
#[derive(Debug)]
pub struct Script {
    pub source: String,
    ast: AST,
    assigned_names: Vec<String>,
}

/// A text attribute that may embed expressions: `"${starter}"`, `"u1, ${boss}"`, `"fixed"`.
#[derive(Debug)]
pub struct Template {
    pub source: String,
    parts: Vec<TemplatePart>,
}

#[derive(Debug)]
enum TemplatePart {
    Text(String),
    Expression(Arc<Expression>),
}

/// The stack a thread that runs the engine needs. Within the script limits (an array or map
/// holds at most 10 000 elements, nested ones counted), a script can still build a value nested
/// some 20 000 levels deep, and rhai clones, measures and drops values recursively: that takes
/// a few MiB in a release build and tens in a debug build. `serve` gives its runtime threads
/// this much (virtual memory; only what is touched is used), so no script can end the process.
pub const RUNTIME_STACK_BYTES: usize = 64 << 20;

/// The sandboxed script engine. Build it once and share it: an `Engine` is expensive to make.
pub struct Scripting {
    engine: Engine,
}

impl std::fmt::Debug for Scripting {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Scripting")
    }
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting::new()
    }
}

impl Scripting {
    /// An engine with operation, depth and size limits, no module loading, no `eval`, and
    /// `print` / `debug` discarded: a script can compute, never reach outside.
    pub fn new() -> Scripting {
        let mut engine = Engine::new();
        engine.set_max_operations(200_000);
        engine.set_max_call_levels(32);
        engine.set_max_expr_depths(64, 32);
        engine.set_max_string_size(1 << 20);
        engine.set_max_array_size(10_000);
        engine.set_max_map_size(10_000);
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        engine.disable_symbol("eval");
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});
        engine.register_fn("__empty", |value: Dynamic| dynamic_is_empty(&value));
        Scripting { engine }
    }

    /// Compiles a condition or expression. Accepts `${…}` / `#{…}` wrapping and JUEL words.
    pub fn compile_expression(&self, source: &str) -> Result<Expression, String> {
        let inner = unwrap_expression(source);
        let translated = translate_juel(inner);
        let ast = self.engine.compile_expression(&translated).map_err(|error| error.to_string())?;
        Ok(Expression { source: source.to_string(), ast })
    }

    /// Compiles a script-task body (plain rhai).
    pub fn compile_script(&self, source: &str) -> Result<Script, String> {
        let ast = self.engine.compile(source).map_err(|error| error.to_string())?;
        Ok(Script { source: source.to_string(), ast, assigned_names: top_level_assignments(source) })
    }

    /// Compiles a text attribute that may embed `${…}` expressions.
    pub fn compile_template(&self, source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("${").or_else(|| rest.find("#{")) {
            let after = &rest[start + 2..];
            let end = matching_brace(after).ok_or_else(|| format!("unclosed expression in '{source}'"))?;
            if start > 0 {
                parts.push(TemplatePart::Text(rest[..start].to_string()));
            }
            parts.push(TemplatePart::Expression(Arc::new(self.compile_expression(&after[..end])?)));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Text(rest.to_string()));
        }
        Ok(Template { source: source.to_string(), parts })
    }

    /// Evaluates a condition; anything but a boolean is an error.
    pub fn eval_condition(&self, expression: &Expression, variables: &Variables) -> Result<bool, String> {
        match self.eval(expression, variables)? {
            Value::Boolean(result) => Ok(result),
            other => Err(format!(
                "condition '{}' evaluated to {} instead of a boolean",
                expression.source,
                other.type_name()
            )),
        }
    }

    /// Evaluates an expression to a value.
    pub fn eval(&self, expression: &Expression, variables: &Variables) -> Result<Value, String> {
        let mut scope = scope_of(variables);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &expression.ast)
            .map_err(|error| format!("expression '{}' failed: {error}", expression.source))?;
        to_value(result)
    }

    /// Evaluates a template: a lone `${expr}` keeps its value's type, mixed text becomes a string.
    pub fn eval_template(&self, template: &Template, variables: &Variables) -> Result<Value, String> {
        if let [TemplatePart::Expression(expression)] = template.parts.as_slice() {
            return self.eval(expression, variables);
        }
        let mut text = String::new();
        for part in &template.parts {
            match part {
                TemplatePart::Text(literal) => text.push_str(literal),
                TemplatePart::Expression(expression) => text.push_str(&self.eval(expression, variables)?.as_text()),
            }
        }
        Ok(Value::String(text))
    }

    /// Runs a script with `variables` in scope. Returns the variables it changed or created and
    /// the script's own result value.
    pub fn run_script(&self, script: &Script, variables: &Variables) -> Result<(Variables, Value), String> {
        let mut scope = scope_of(variables);
        for name in &script.assigned_names {
            if !variables.contains_key(name) {
                scope.push_dynamic(name.clone(), Dynamic::UNIT);
            }
        }
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &script.ast)
            .map_err(|error| format!("script failed: {error}"))?;
        let mut changed = Variables::new();
        for (name, _, value) in scope.iter_raw() {
            let existed = variables.get(name);
            if existed.is_none() && !script.assigned_names.iter().any(|assigned| assigned == name) {
                continue; // a `let` local of the script
            }
            let value = to_value(value.clone())?;
            let unchanged = match existed {
                None => value == Value::Null,
                // Compare with what the script was given, not with the stored value: the trip
                // through rhai is lossy (one integer type, dates and JSON scalars become plain
                // values, big JSON numbers floats), and a variable the script did not touch must
                // not be rewritten.
                Some(old) => to_value(to_dynamic(old)).is_ok_and(|given| given == value),
            };
            if !unchanged {
                let value = match (existed, value) {
                    // rhai has a single integer type: a `Long` variable stays a `Long`.
                    (Some(Value::Long(_)), Value::Integer(small)) => Value::Long(i64::from(small)),
                    (_, value) => value,
                };
                changed.insert(name.to_string(), value);
            }
        }
        Ok((changed, to_value(result)?))
    }
}

fn scope_of(variables: &Variables) -> Scope<'static> {
    let mut scope = Scope::with_capacity(variables.len());
    for (name, value) in variables {
        scope.push_dynamic(name.clone(), to_dynamic(value));
    }
    scope
}

fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Boolean(b) => Dynamic::from_bool(*b),
        Value::Integer(i) => Dynamic::from_int(i64::from(*i)),
        Value::Long(i) => Dynamic::from_int(*i),
        Value::Double(d) => Dynamic::from_float(*d),
        Value::String(s) | Value::Date(s) => Dynamic::from(s.clone()),
        Value::Json(json) => rhai::serde::to_dynamic(json).unwrap_or(Dynamic::UNIT),
    }
}

fn to_value(value: Dynamic) -> Result<Value, String> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.clone().try_cast::<bool>() {
        return Ok(Value::Boolean(b));
    }
    if let Some(i) = value.clone().try_cast::<i64>() {
        return Ok(Value::from_i64(i));
    }
    if let Some(d) = value.clone().try_cast::<f64>() {
        return Ok(Value::Double(d));
    }
    if value.is_string() {
        return Ok(Value::String(value.into_string().unwrap_or_default()));
    }
    if let Some(c) = value.clone().try_cast::<char>() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_array() || value.is_map() {
        // Measured with a recursion that stops one level past the limit, so a value of any
        // depth is refused without walking all of it (the conversion below recurses fully).
        if nested_deeper_than(&value, crate::value::MAX_VALUE_DEPTH) {
            return Err(format!(
                "脚本生成的值嵌套层级超过 {0} 层 (a script produced a value nested deeper than {0} levels)",
                crate::value::MAX_VALUE_DEPTH
            ));
        }
        return rhai::serde::from_dynamic::<serde_json::Value>(&value)
            .map(Value::Json)
            .map_err(|error| format!("value cannot be stored: {error}"));
    }
    Err(format!("a script produced a value of type '{}' that cannot be stored", value.type_name()))
}

/// Whether arrays and maps nest inside `value` more than `limit` levels (`[1]` is one level).
fn nested_deeper_than(value: &Dynamic, limit: usize) -> bool {
    if let Some(array) = value.read_lock::<rhai::Array>() {
        return limit == 0 || array.iter().any(|item| nested_deeper_than(item, limit - 1));
    }
    if let Some(map) = value.read_lock::<rhai::Map>() {
        return limit == 0 || map.values().any(|item| nested_deeper_than(item, limit - 1));
    }
    false
}

fn dynamic_is_empty(value: &Dynamic) -> bool {
    if value.is_unit() {
        return true;
    }
    if value.is_string() {
        return value.clone().into_string().map(|s| s.is_empty()).unwrap_or(false);
    }
    if let Some(array) = value.read_lock::<rhai::Array>() {
        return array.is_empty();
    }
    if let Some(map) = value.read_lock::<rhai::Map>() {
        return map.is_empty();
    }
    false
}

/// `${x}` → `x`; anything else unchanged.
fn unwrap_expression(source: &str) -> &str {
    let trimmed = source.trim();
    for opener in ["${", "#{"] {
        if let Some(inner) = trimmed.strip_prefix(opener)
            && let Some(end) = matching_brace(inner)
            && end == inner.len() - 1
        {
            return &inner[..end];
        }
    }
    trimmed
}

/// Position of the `}` that closes an expression whose `{` was just consumed.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (index, character) in text.char_indices() {
        match (quote, character) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(character),
            (None, '{') => depth += 1,
            (None, '}') if depth == 0 => return Some(index),
            (None, '}') => depth -= 1,
            _ => {}
        }
    }
    None
}

/// A lexical token of an expression or script: enough structure to rewrite operator words and
/// find assignments without touching string literals.
#[derive(Debug, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    /// A string literal, without its quotes.
    Text(&'a str),
    Other(&'a str),
}

fn tokenize(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'\'' || byte == b'"' {
            let start = index + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end] != byte {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(bytes.len());
            tokens.push(Token::Text(&source[start..end]));
            index = end + 1;
        } else if byte == b'/' && bytes.get(index + 1) == Some(&b'/') {
            let end = source[index..].find('\n').map_or(bytes.len(), |offset| index + offset);
            tokens.push(Token::Other(&source[index..end]));
            index = end;
        } else if byte.is_ascii_alphabetic() || byte == b'_' {
            let start = index;
            while index < bytes.len() && (bytes[index].is_ascii_alphanumeric() || bytes[index] == b'_') {
                index += 1;
            }
            tokens.push(Token::Word(&source[start..index]));
        } else {
            let start = index;
            index += source[index..].chars().next().map_or(1, char::len_utf8);
            tokens.push(Token::Other(&source[start..index]));
        }
    }
    tokens
}

/// Rewrites JUEL operator words (`and or not eq ne lt gt le ge empty div mod null`) and
/// single-quoted strings into rhai.
pub(crate) fn translate_juel(source: &str) -> String {
    let tokens = tokenize(source);
    let mut out = String::with_capacity(source.len() + 8);
    let mut index = 0;
    while index < tokens.len() {
        let after_dot = matches!(out.trim_end().chars().last(), Some('.'));
        match &tokens[index] {
            Token::Text(text) => {
                out.push('"');
                out.push_str(&text.replace("\\'", "'").replace('"', "\\\""));
                out.push('"');
            }
            Token::Word(word) if !after_dot => match *word {
                "and" => out.push_str("&&"),
                "or" => out.push_str("||"),
                "not" => out.push('!'),
                "eq" => out.push_str("=="),
                "ne" => out.push_str("!="),
                "lt" => out.push('<'),
                "gt" => out.push('>'),
                "le" => out.push_str("<="),
                "ge" => out.push_str(">="),
                "div" => out.push('/'),
                "mod" => out.push('%'),
                "null" => out.push_str("()"),
                "empty" => {
                    // `empty a.b` becomes `__empty(a.b)`; `empty (…)` is already a call.
                    let mut next = index + 1;
                    while matches!(tokens.get(next), Some(Token::Other(space)) if space.trim().is_empty()) {
                        next += 1;
                    }
                    if let Some(Token::Word(_)) = tokens.get(next) {
                        let mut path = String::new();
                        let mut cursor = next;
                        while let Some(Token::Word(part)) = tokens.get(cursor) {
                            path.push_str(part);
                            if matches!(tokens.get(cursor + 1), Some(Token::Other(".")))
                                && let Some(Token::Word(_)) = tokens.get(cursor + 2)
                            {
                                path.push('.');
                                cursor += 2;
                                continue;
                            }
                            break;
                        }
                        out.push_str("__empty(");
                        out.push_str(&path);
                        out.push(')');
                        index = cursor;
                    } else {
                        out.push_str("__empty");
                    }
                }
                other => out.push_str(other),
            },
            Token::Word(word) => out.push_str(word),
            Token::Other(other) => out.push_str(other),
        }
        index += 1;
    }
    out
}

/// Names assigned with `=` / `op=` at any depth, except those declared with `let` / `const`
/// and fields (`a.b = …`).
fn top_level_assignments(source: &str) -> Vec<String> {
    let tokens: Vec<Token<'_>> =
        tokenize(source).into_iter().filter(|token| !matches!(token, Token::Other(o) if o.trim().is_empty())).collect();
    let mut names: Vec<String> = Vec::new();
    let mut locals: Vec<&str> = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        let Token::Word(word) = token else { continue };
        let previous = index.checked_sub(1).and_then(|i| tokens.get(i));
        if matches!(previous, Some(Token::Word("let" | "const" | "for" | "fn"))) {
            locals.push(word);
            continue;
        }
        if matches!(previous, Some(Token::Other("."))) {
            continue;
        }
        let next = tokens.get(index + 1);
        let after = tokens.get(index + 2);
        let assigns = match next {
            Some(Token::Other("=")) => !matches!(after, Some(Token::Other("=" | ">"))),
            Some(Token::Other("+" | "-" | "*" | "/" | "%" | "&" | "|" | "^")) => {
                matches!(after, Some(Token::Other("=")))
            }
            _ => false,
        };
        if assigns && !locals.contains(word) && !names.iter().any(|name| name == word) {
            names.push((*word).to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, Value)]) -> Variables {
        pairs.iter().map(|(name, value)| (name.to_string(), value.clone())).collect()
    }

    #[test]
    fn juel_words_become_rhai_operators() {
        assert_eq!(translate_juel("a gt 1 and not b"), "a > 1 && ! b");
        assert_eq!(translate_juel("x eq 'yes'"), "x == \"yes\"");
        assert_eq!(translate_juel("empty owner.name or y ne null"), "__empty(owner.name) || y != ()");
        assert_eq!(translate_juel("'and' == s"), "\"and\" == s");
    }

    #[test]
    fn conditions_accept_camunda_and_bare_forms() {
        let scripting = Scripting::new();
        let variables = vars(&[("amount", Value::Integer(1500)), ("owner", Value::String(String::new()))]);
        for (source, expected) in [
            ("${amount > 1000}", true),
            ("amount > 1000", true),
            ("${amount gt 2000 or empty owner}", true),
            ("#{amount le 1000}", false),
            ("${amount >= 100 && amount < 1000}", false),
        ] {
            let expression = scripting.compile_expression(source).expect(source);
            assert_eq!(scripting.eval_condition(&expression, &variables), Ok(expected), "{source}");
        }
    }

    #[test]
    fn non_boolean_and_unknown_variables_are_errors() {
        let scripting = Scripting::new();
        let number = scripting.compile_expression("${1 + 1}").expect("compiles");
        assert!(scripting.eval_condition(&number, &Variables::new()).unwrap_err().contains("instead of a boolean"));
        let unknown = scripting.compile_expression("${missing > 1}").expect("compiles");
        assert!(scripting.eval_condition(&unknown, &Variables::new()).is_err());
    }

    #[test]
    fn scripts_write_back_changed_and_new_variables_but_not_locals() {
        let scripting = Scripting::new();
        let script = scripting
            .compile_script("let tmp = 2; counter = counter + tmp; label = `n=${counter}`;")
            .expect("compiles");
        let (changed, _) = scripting.run_script(&script, &vars(&[("counter", Value::Integer(1))])).expect("runs");
        assert_eq!(changed, vars(&[("counter", Value::Integer(3)), ("label", Value::String("n=3".into()))]));
    }

    #[test]
    fn runaway_scripts_hit_the_operation_limit() {
        let scripting = Scripting::new();
        let script = scripting.compile_script("loop { x = 1; }").expect("compiles");
        assert!(scripting.run_script(&script, &Variables::new()).is_err());
    }

    #[test]
    fn scripts_cannot_import_modules_or_eval() {
        let scripting = Scripting::new();
        let import = scripting.compile_script("import \"/etc/passwd\" as p; 1").expect("parses");
        assert!(scripting.run_script(&import, &Variables::new()).is_err());
        assert!(scripting.compile_script("eval(\"1\")").is_err());
    }

    #[test]
    fn templates_keep_the_type_of_a_lone_expression() {
        let scripting = Scripting::new();
        let variables = vars(&[("boss", Value::String("li".into())), ("n", Value::Integer(3))]);
        let lone = scripting.compile_template("${n}").expect("compiles");
        assert_eq!(scripting.eval_template(&lone, &variables), Ok(Value::Integer(3)));
        let mixed = scripting.compile_template("wang, ${boss}").expect("compiles");
        assert_eq!(scripting.eval_template(&mixed, &variables), Ok(Value::String("wang, li".into())));
    }
}
