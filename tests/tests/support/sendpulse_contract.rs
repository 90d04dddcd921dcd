//! The project's subset of SendPulse's API (docs/sendpulse/openapi.yml) as
//! a validator of recorded requests, shared by the client's and the
//! gateway's contract tests.

use rapport_tests::fake_sendpulse::Recorded;
use serde_json::Value;

/// The project's subset of SendPulse's API, and a small validator over it:
/// method + path template, required and declared query parameters, the
/// body's required fields, declared fields (where a schema lists them),
/// types and enums.
pub struct Contract {
    pub doc: Value,
}

impl Contract {
    pub fn load() -> Contract {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sendpulse/openapi.yml");
        let text = std::fs::read_to_string(path).expect("docs/sendpulse/openapi.yml");
        Contract {
            doc: serde_yaml::from_str(&text).expect("openapi.yml parses"),
        }
    }

    pub fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let ptr = r.trim_start_matches('#');
                self.resolve(
                    self.doc
                        .pointer(ptr)
                        .unwrap_or_else(|| panic!("bad $ref {r}")),
                )
            }
            None => v,
        }
    }

    /// Every (method, concrete path, operation) the document allows.
    pub fn operations(&self) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (template, item) in self.doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let params = self.params(op);
                let mut paths = vec![template.clone()];
                for p in params.iter().filter(|p| p["in"] == "path") {
                    let name = p["name"].as_str().expect("name");
                    let values = p["schema"]["enum"]
                        .as_array()
                        .expect("path params have an enum");
                    paths = paths
                        .iter()
                        .flat_map(|t| {
                            values.iter().map(move |v| {
                                t.replace(&format!("{{{name}}}"), v.as_str().expect("enum str"))
                            })
                        })
                        .collect();
                }
                for p in paths {
                    out.push((method.to_uppercase(), p, op));
                }
            }
        }
        out
    }

    pub fn params<'a>(&'a self, op: &'a Value) -> Vec<&'a Value> {
        op.get("parameters")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(|p| self.resolve(p)).collect())
            .unwrap_or_default()
    }

    /// The operation a request matches, or why it does not.
    pub fn validate(&self, r: &Recorded) -> Result<String, String> {
        let ops = self.operations();
        let Some((_, _, op)) = ops.iter().find(|(m, p, _)| *m == r.method && *p == r.path) else {
            return Err(format!("{} {} is not in the subset", r.method, r.path));
        };
        let id = op["operationId"].as_str().unwrap_or("?").to_owned();
        let query: Vec<&Value> = self
            .params(op)
            .into_iter()
            .filter(|p| p["in"] == "query")
            .collect();
        for p in &query {
            let name = p["name"].as_str().unwrap_or_default();
            let given = r.query.iter().find(|(k, _)| k == name);
            if p["required"] == true && given.is_none() {
                return Err(format!("{id}: query {name} is required"));
            }
            if let (Some((_, v)), Some(allowed)) = (given, p["schema"]["enum"].as_array())
                && !allowed.iter().any(|a| a.as_str() == Some(v))
            {
                return Err(format!("{id}: query {name}={v} not in its enum"));
            }
            if let Some((_, v)) = given
                && p["schema"]["type"] == "integer"
                && v.parse::<i64>().is_err()
            {
                return Err(format!("{id}: query {name} must be an integer"));
            }
        }
        for (k, _) in &r.query {
            if !query.iter().any(|p| p["name"] == k.as_str()) {
                return Err(format!("{id}: query {k} is not declared"));
            }
        }
        match op.get("requestBody").map(|b| self.resolve(b)) {
            Some(rb) => {
                let schema = &rb["content"]["application/json"]["schema"];
                match &r.body {
                    Some(b) => self.check(schema, b, &format!("{id}: body")),
                    None if rb["required"] == true => Err(format!("{id}: body is required")),
                    None => Ok(()),
                }?
            }
            None if r.body.is_some() => return Err(format!("{id}: takes no body")),
            None => {}
        }
        Ok(id)
    }

    pub fn check(&self, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema);
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let ok = types.iter().any(|t| match *t {
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "object" => v.is_object(),
                "array" => v.is_array(),
                "null" => v.is_null(),
                _ => false,
            });
            if !ok {
                return Err(format!("{at}: {v} is not of type {types:?}"));
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(v)
        {
            return Err(format!("{at}: {v} not in {allowed:?}"));
        }
        if let Some(obj) = v.as_object() {
            for req in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let k = req.as_str().unwrap_or_default();
                if !obj.contains_key(k) {
                    return Err(format!("{at}: {k} is required"));
                }
            }
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, val) in obj {
                    let Some(ps) = props.get(k) else {
                        return Err(format!("{at}: {k} is not declared"));
                    };
                    self.check(ps, val, &format!("{at}.{k}"))?;
                }
            }
        }
        if let (Some(items), Some(list)) = (schema.get("items"), v.as_array()) {
            for (i, x) in list.iter().enumerate() {
                self.check(items, x, &format!("{at}[{i}]"))?;
            }
        }
        Ok(())
    }
}
