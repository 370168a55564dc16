//! The query dialect of `GET /sessions`: `filter[]=field:op:value`, `sort=field:asc|desc`, and
//! time values as UTC `yyyy-MM-ddTHH:mm:ss` (whole seconds).
//!
//! Both the client and the simulator use these types, so a filter the exporter sends is the
//! filter the simulator parses; the Prism test in `tests/` checks the dialect against a third
//! party's reading of the OpenAPI page.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use super::model::Status;

/// A field that `filter[]` and `sort` accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Id,
    UserId,
    Expires,
    LastAction,
    Created,
    Updated,
    Status,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Id,
        Field::UserId,
        Field::Expires,
        Field::LastAction,
        Field::Created,
        Field::Updated,
        Field::Status,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Id => "ID",
            Field::UserId => "userID",
            Field::Expires => "expires",
            Field::LastAction => "lastAction",
            Field::Created => "created",
            Field::Updated => "updated",
            Field::Status => "status",
        }
    }

    /// Whether values of this field are times in the `yyyy-MM-ddTHH:mm:ss` format.
    pub fn is_time(self) -> bool {
        matches!(
            self,
            Field::Expires | Field::LastAction | Field::Created | Field::Updated
        )
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown field {s:?}"))
    }
}

/// A filter operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Gt,
    Lt,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Gt => "gt",
            Op::Lt => "lt",
        }
    }
}

impl FromStr for Op {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "eq" => Ok(Op::Eq),
            "gt" => Ok(Op::Gt),
            "lt" => Ok(Op::Lt),
            _ => Err(format!("unknown operator {s:?}")),
        }
    }
}

/// One `filter[]` value: `field:op:value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub field: Field,
    pub op: Op,
    pub value: String,
}

impl Filter {
    pub fn status(status: Status) -> Self {
        Filter {
            field: Field::Status,
            op: Op::Eq,
            value: status.as_str().to_owned(),
        }
    }

    /// A time filter; `unix_seconds` is formatted as the API expects.
    pub fn time(field: Field, op: Op, unix_seconds: i64) -> Self {
        Filter {
            field,
            op,
            value: format_time(unix_seconds),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.field.as_str(),
            self.op.as_str(),
            self.value
        )
    }
}

impl FromStr for Filter {
    type Err = String;
    /// Parses `field:op:value`; the value may itself hold colons (times do).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{s:?} is not of the form field:operator:value"));
        };
        let field: Field = field.parse()?;
        let op: Op = op.parse()?;
        if field.is_time() && parse_time(value).is_none() {
            return Err(format!(
                "{value:?} is not a time of the form yyyy-MM-ddTHH:mm:ss"
            ));
        }
        if field == Field::Status && op != Op::Eq {
            return Err("status only supports the eq operator".to_owned());
        }
        Ok(Filter {
            field,
            op,
            value: value.to_owned(),
        })
    }
}

/// Sort order: `field:asc` or `field:desc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub field: Field,
    pub descending: bool,
}

impl Sort {
    /// The order the exporter pages in: oldest first, so sessions created during a poll land
    /// after everything already fetched instead of shifting the pages still to come.
    pub const CREATED_ASC: Sort = Sort {
        field: Field::Created,
        descending: false,
    };
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = if self.descending { "desc" } else { "asc" };
        write!(f, "{}:{dir}", self.field.as_str())
    }
}

impl FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (field, dir) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} is not of the form field:asc or field:desc"))?;
        let descending = match dir {
            "asc" => false,
            "desc" => true,
            _ => return Err(format!("unknown sort direction {dir:?}")),
        };
        Ok(Sort {
            field: field.parse()?,
            descending,
        })
    }
}

/// Formats Unix seconds as `yyyy-MM-ddTHH:mm:ss` (UTC). Times before 1970 clamp to the epoch:
/// the exporter never asks about them.
pub fn format_time(unix_seconds: i64) -> String {
    let secs = u64::try_from(unix_seconds).unwrap_or(0);
    let mut text =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
    // humantime writes `…Z`; the API's format has no zone designator.
    text.pop();
    text
}

/// Parses `yyyy-MM-ddTHH:mm:ss` (UTC) into Unix seconds; `None` for anything else.
pub fn parse_time(value: &str) -> Option<i64> {
    let bytes = value.as_bytes();
    if bytes.len() != 19 || bytes[10] != b'T' {
        return None;
    }
    let time = humantime::parse_rfc3339(&format!("{value}Z")).ok()?;
    let secs = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_and_parse_in_the_api_format() {
        // 2026-11-25T17:00:00Z
        assert_eq!(format_time(1_795_626_000), "2026-11-25T17:00:00");
        assert_eq!(parse_time("2026-11-25T17:00:00"), Some(1_795_626_000));
        assert_eq!(parse_time("2026-11-25T17:00:00Z"), None);
        assert_eq!(parse_time("2026-11-25 17:00:00"), None);
        assert_eq!(parse_time("2026-13-25T17:00:00"), None);
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_time(-5), "1970-01-01T00:00:00");
    }

    #[test]
    fn filters_round_trip_through_their_text_form() {
        let filter = Filter::time(Field::Created, Op::Gt, 1_795_626_000);
        assert_eq!(filter.to_string(), "created:gt:2026-11-25T17:00:00");
        assert_eq!(filter.to_string().parse::<Filter>(), Ok(filter));
        let status = Filter::status(Status::Revoked);
        assert_eq!(status.to_string(), "status:eq:revoked");
        assert_eq!("status:eq:revoked".parse::<Filter>(), Ok(status));
    }

    #[test]
    fn malformed_filters_are_rejected_with_a_reason() {
        for bad in [
            "created",
            "created:gt",
            "colour:eq:blue",
            "created:ge:2026-11-25T17:00:00",
            "created:gt:2026-11-25",
            "status:gt:active",
        ] {
            assert!(bad.parse::<Filter>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn sort_parses_both_directions() {
        assert_eq!("created:asc".parse::<Sort>(), Ok(Sort::CREATED_ASC));
        assert_eq!(
            "expires:desc".parse::<Sort>(),
            Ok(Sort {
                field: Field::Expires,
                descending: true
            })
        );
        assert!("created:up".parse::<Sort>().is_err());
        assert!("created".parse::<Sort>().is_err());
    }
}
