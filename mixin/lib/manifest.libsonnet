// Writes the rule files as YAML with a stable layout that reads like a hand-written file: keys
// in the order people expect, a rule's hidden `comment` above it, a blank line between rules,
// quotes only where needed. jsonnet's own std.manifestYamlDoc quotes every string and writes
// no comments.
local pad(n) = std.repeat(' ', n);

// Whether `s` holds the character `char` (std.split is much faster than std.findSubstr).
local has(s, char) = std.length(std.split(s, char)) > 1;

// A number as YAML writes it: integers without a fraction, others in the fewest
// digits that read back as the same number (0.3, not 0.29999999999999999).
local number(x) = if std.floor(x) == x then '%d' % x else '%.15g' % x;

// Character sets as objects: std.member on a string is far slower in jsonnet 0.18.
local set(chars) = { [c]: true for c in std.stringChars(chars) };
local digits = '0123456789';
local lowerLetters = 'abcdefghijklmnopqrstuvwxyz';
local letters = lowerLetters + std.asciiUpper(lowerLetters);
local wordChars = set(letters + digits + '_-.:/');

// Whether a string may stand unquoted in YAML and still read back as the same string, in YAML
// 1.1 (Prometheus' parser) and 1.2 alike. Deliberately narrow: one word of letters, digits and
// `_-.:/`, starting with a letter; or a duration such as `5m`.
local only(s, allowed) = std.length([c for c in std.stringChars(s) if !std.objectHas(allowed, c)]) == 0;
local plain(s) =
  local n = std.length(s);
  // The cheap tests first: jsonnet 0.18 walks a long string slowly.
  local short = n > 0 && n <= 100 && !has(s, ' ');
  local word = std.objectHas(set(letters), s[0])
               && only(s, wordChars)
               && s[n - 1] != ':'
               && !std.member(['true', 'false', 'yes', 'no', 'on', 'off', 'null', 'y', 'n'], std.asciiLower(s));
  local duration = n >= 2 && std.objectHas(set('smhdwy'), s[n - 1])
                   && only(s[0:n - 1], set(digits));
  short && (word || duration);

// A string on one line: plain when safe; single-quoted when it holds a double quote and no
// single one (PromQL label matchers read best that way); else double-quoted with JSON's
// escapes, which YAML reads the same.
local yamlString(s) =
  if plain(s) then s
  else if has(s, '"') && !has(s, "'") then "'" + s + "'"
  // Nothing to escape: the quotes alone (std.escapeStringJson is slow on a long string).
  else if !has(s, '"') && !has(s, '\\') && !has(s, '\t') && !has(s, '\r') then '"' + s + '"'
  else std.escapeStringJson(s);

local yamlScalar(v) =
  if v == null then 'null'
  else if std.isBoolean(v) then (if v then 'true' else 'false')
  else if std.isNumber(v) then number(v)
  else if std.isString(v) then yamlString(v)
  else error 'not a scalar: %s' % std.toString(v);

// The keys of a rule file in the order people write them; any other key follows, sorted.
local keyOrder = [
  'apiVersion',
  'kind',
  'metadata',
  'spec',
  'name',
  'interval',
  'alert',
  'record',
  'expr',
  'for',
  'labels',
  'annotations',
  'summary',
  'description',
  'runbook_url',
  'rules',
];
local keys(o) =
  local fields = std.objectFields(o);
  [k for k in keyOrder if std.member(fields, k)]
  + [k for k in fields if !std.member(keyOrder, k)];

local lines(list) = std.join('', [line + '\n' for line in list]);

local comment(text, indent) =
  lines([pad(indent) + (if line == '' then '#' else '# ' + line) for line in std.split(std.rstripChars(text, '\n'), '\n')]);

// A string of several lines as a literal block, its lines `indent` deeper than its key.
local block(s, indent) =
  local body = std.rstripChars(s, '\n');
  assert !std.startsWith(body, ' ') : 'a block may not start with a space: %s' % s;
  local chomp = if std.endsWith(s, '\n') then '' else '-';
  lines(['|' + chomp] + [if line == '' then '' else pad(indent) + line for line in std.split(body, '\n')]);

// The lines of a mapping at `indent`, as text. `value` and `list` call each other, so they are
// one `local`. Text is built by concatenation: jsonnet 0.18 is slow at slicing and flattening
// arrays of lines.
local yaml(v, indent) =
  local
    value(key, x, indent) =
      pad(indent) + key + (
        if std.isObject(x) && std.length(x) > 0 then ':\n' + yaml(x, indent + 2)
        else if std.isObject(x) then ': {}\n'
        else if std.isArray(x) && std.length(x) > 0 then ':\n' + list(x, indent + 2, key == 'rules')
        else if std.isArray(x) then ': []\n'
        else if std.isString(x) && has(x, '\n') then ': ' + block(x, indent + 2)
        else ': ' + yamlScalar(x) + '\n'
      ),
    // Items of a list, each opened by `- ` at `indent`; `spaced` puts a blank line between them.
    list(items, indent, spaced) = std.join('', [
      local item = items[i];
      (if spaced && i > 0 then '\n' else '')
      + (if std.isObject(item) && std.objectHasAll(item, 'comment') then comment(item.comment, indent) else '')
      + pad(indent) + '- ' + (
        if std.isObject(item) then
          local text = yaml(item, indent + 2);
          std.substr(text, indent + 2, std.length(text) - indent - 2)
        else if std.isArray(item) then error 'a list directly in a list is not supported'
        else yamlScalar(item) + '\n'
      )
      for i in std.range(0, std.length(items) - 1)
    ]);
  std.join('', [value(k, v[k], indent) for k in keys(v)]);

{
  // A YAML document: `header` (a comment, may be empty) above the value. Without its last
  // newline, which `jsonnet -S` adds.
  yaml(value, header='')::
    local text = (if header == '' then '' else comment(header, 0)) + yaml(value, 0);
    std.substr(text, 0, std.length(text) - 1),
}
