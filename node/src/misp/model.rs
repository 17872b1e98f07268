//! The parts of the MISP core format (draft-dulaunoy-misp-core-format) that certnet maps, read
//! leniently where MISP itself is: numbers and booleans often arrive as strings (`"threat_level_id":
//! "1"`, `"to_ids": "1"`, `"timestamp": "1617875568"`). Fields certnet does not map are ignored.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

/// One MISP event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Event {
    /// The event's UUID: what a re-import recognises it by.
    pub uuid: String,
    /// The event's one-line description.
    #[serde(default)]
    pub info: String,
    /// 1 high, 2 medium, 3 low, 4 undefined.
    #[serde(default, deserialize_with = "opt_u64")]
    pub threat_level_id: Option<u64>,
    /// 0 initial, 1 ongoing, 2 completed.
    #[serde(default, deserialize_with = "opt_u64")]
    pub analysis: Option<u64>,
    /// 0 your organisation, 1 this community, 2 connected communities, 3 all, 4 sharing group.
    #[serde(default, deserialize_with = "opt_u64")]
    pub distribution: Option<u64>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// Last change, seconds since the Unix epoch.
    #[serde(default, deserialize_with = "opt_u64")]
    pub timestamp: Option<u64>,
    /// The creating organisation.
    #[serde(rename = "Orgc", default)]
    pub orgc: Option<Org>,
    /// The sharing group (distribution 4).
    #[serde(rename = "SharingGroup", default)]
    pub sharing_group: Option<SharingGroup>,
    /// Event tags (TLP, taxonomies).
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
    /// Attributes outside objects.
    #[serde(rename = "Attribute", default)]
    pub attributes: Vec<Attribute>,
    /// Objects (file, domain-ip, url, …), each a group of attributes.
    #[serde(rename = "Object", default)]
    pub objects: Vec<Object>,
    /// Galaxies and their clusters.
    #[serde(rename = "Galaxy", default)]
    pub galaxies: Vec<Galaxy>,
    /// Event-level sightings (most exports attach them to attributes instead).
    #[serde(rename = "Sighting", default)]
    pub sightings: Vec<MispSighting>,
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Org {
    /// Its name.
    #[serde(default)]
    pub name: String,
}

/// A sharing group.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SharingGroup {
    /// Its name.
    #[serde(default)]
    pub name: String,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Tag {
    /// Its name (`tlp:amber`, `misp-galaxy:…`, a taxonomy's machine tag).
    pub name: String,
}

/// An attribute.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Attribute {
    /// Its UUID.
    #[serde(default)]
    pub uuid: String,
    /// Its type (`ip-dst`, `domain`, `sha256`, `filename|md5`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its category (`Network activity`, `Payload delivery`, …).
    #[serde(default)]
    pub category: String,
    /// Its value.
    #[serde(default, deserialize_with = "string_or_number")]
    pub value: String,
    /// Whether it is for detection (an IOC).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub to_ids: bool,
    /// A comment.
    #[serde(default)]
    pub comment: String,
    /// Soft-deleted in MISP.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    /// 0..4 as for events, 5 inherit.
    #[serde(default, deserialize_with = "opt_u64")]
    pub distribution: Option<u64>,
    /// Inside an object: its relation name (`sha256`, `filename`, `ip`, …).
    #[serde(default)]
    pub object_relation: Option<String>,
    /// Attribute tags.
    #[serde(rename = "Tag", default)]
    pub tags: Vec<Tag>,
    /// Sightings of this attribute.
    #[serde(rename = "Sighting", default)]
    pub sightings: Vec<MispSighting>,
}

/// An object.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Object {
    /// Its template name (`file`, `domain-ip`, `url`, …).
    #[serde(default)]
    pub name: String,
    /// Its UUID.
    #[serde(default)]
    pub uuid: String,
    /// Soft-deleted in MISP.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub deleted: bool,
    /// 0..4 as for events, 5 inherit.
    #[serde(default, deserialize_with = "opt_u64")]
    pub distribution: Option<u64>,
    /// Its attributes.
    #[serde(rename = "Attribute", default)]
    pub attributes: Vec<Attribute>,
}

/// A galaxy and the clusters of it attached to the event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Galaxy {
    /// The galaxy's name (`Threat Actor`).
    #[serde(default)]
    pub name: String,
    /// Its clusters.
    #[serde(rename = "GalaxyCluster", default)]
    pub clusters: Vec<GalaxyCluster>,
}

/// A galaxy cluster.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct GalaxyCluster {
    /// Its machine tag (`misp-galaxy:threat-actor="Sofacy"`).
    #[serde(default)]
    pub tag_name: String,
    /// Its value (`Sofacy`).
    #[serde(default)]
    pub value: String,
}

/// A sighting.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct MispSighting {
    /// Its UUID: what a re-import recognises it by.
    #[serde(default)]
    pub uuid: String,
    /// 0 sighting, 1 false positive, 2 expiration.
    #[serde(rename = "type", default, deserialize_with = "opt_u64")]
    pub kind: Option<u64>,
    /// When, seconds since the Unix epoch.
    #[serde(default, deserialize_with = "opt_u64")]
    pub date_sighting: Option<u64>,
    /// The sighted attribute (event-level sightings).
    #[serde(default)]
    pub attribute_uuid: Option<String>,
    /// Who saw it.
    #[serde(rename = "Organisation", default)]
    pub organisation: Option<Org>,
    /// Free text MISP calls the source.
    #[serde(default)]
    pub source: Option<String>,
}

/// Reads the events in a MISP JSON document: one event (`{"Event": {...}}` or bare), a list of them,
/// or a `restSearch` answer (`{"response": [...]}`). Each event is kept as raw JSON with its position,
/// so that one malformed event is reported (with its path) and the others go on.
pub fn events_in(document: serde_json::Value) -> Result<Vec<(String, serde_json::Value)>, String> {
    use serde_json::Value;
    let unwrap = |v: Value| match v {
        Value::Object(mut map) if map.contains_key("Event") => {
            map.remove("Event").unwrap_or(Value::Null)
        }
        other => other,
    };
    let list = |items: Vec<Value>, at: &str| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{at}[{i}]"), unwrap(v)))
            .collect()
    };
    match document {
        Value::Array(items) => Ok(list(items, "$")),
        Value::Object(mut map) => {
            if let Some(response) = map.remove("response") {
                return match response {
                    Value::Array(items) => Ok(list(items, "$.response")),
                    other => Ok(vec![("$.response".into(), unwrap(other))]),
                };
            }
            if let Some(event) = map.remove("Event") {
                return Ok(vec![("$.Event".into(), event)]);
            }
            if map.contains_key("uuid") && map.contains_key("info") {
                return Ok(vec![("$".into(), Value::Object(map))]);
            }
            Err(
                "not a MISP event document: expected {\"Event\": {...}}, a list of events, or \
                 {\"response\": [...]} from /events/restSearch"
                    .into(),
            )
        }
        _ => Err("not a MISP event document: expected a JSON object or list".into()),
    }
}

fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        N(u64),
        S(String),
        Null,
    }
    match Option::<Num>::deserialize(d)? {
        None | Some(Num::Null) => Ok(None),
        Some(Num::N(n)) => Ok(Some(n)),
        Some(Num::S(s)) if s.is_empty() => Ok(None),
        Some(Num::S(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("expected a number, found {s:?}"))),
    }
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Num(u64),
        Text(String),
    }
    match Option::<Flag>::deserialize(d)? {
        None => Ok(false),
        Some(Flag::Bool(b)) => Ok(b),
        Some(Flag::Num(n)) => Ok(n != 0),
        Some(Flag::Text(s)) => match s.as_str() {
            "1" | "true" | "True" => Ok(true),
            "0" | "false" | "False" | "" => Ok(false),
            other => Err(de::Error::custom(format!(
                "expected a boolean, found {other:?}"
            ))),
        },
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        S(String),
        N(serde_json::Number),
    }
    Ok(match Option::<S>::deserialize(d)? {
        None => String::new(),
        Some(S::S(s)) => s,
        Some(S::N(n)) => n.to_string(),
    })
}
