//! Closed sets of choices known by name (model kinds, presets, and above this crate the OOD
//! scores), parsed and printed one way everywhere: the library takes the typed value, the
//! command line and config files the name.

/// A choice among a fixed list, each with the name typed on the command line.
pub trait Named: Copy + PartialEq + 'static {
    /// What the choice is, for errors ("model", "preset").
    const WHAT: &'static str;
    /// Every choice, in the order help texts list them.
    const ALL: &'static [Self];

    /// The name as typed.
    fn name(self) -> &'static str;

    /// The choice called `name`, or an error listing the names.
    fn parse(name: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .iter()
            .copied()
            .find(|c| c.name() == name)
            .ok_or_else(|| UnknownName {
                what: Self::WHAT,
                name: name.into(),
                choices: Self::names().join(", "),
            })
    }

    /// Every name, in order.
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|c| c.name()).collect()
    }
}

/// A name that is none of a [`Named`] type's choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What kind of name (a model, a preset).
    pub what: &'static str,
    /// The name given.
    pub name: String,
    /// The names known, comma-separated.
    pub choices: String,
}

impl std::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown {} `{}`; choose one of {}",
            self.what, self.name, self.choices
        )
    }
}

impl std::error::Error for UnknownName {}

/// `FromStr`, `Display` and serde as the name, for a [`Named`] type.
#[macro_export]
macro_rules! named_text {
    ($t:ty) => {
        impl std::str::FromStr for $t {
            type Err = $crate::named::UnknownName;
            fn from_str(name: &str) -> Result<Self, Self::Err> {
                <$t as $crate::named::Named>::parse(name)
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::named::Named::name(*self))
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::named::Named::name(*self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <String as serde::Deserialize>::deserialize(d)?;
                <$t as $crate::named::Named>::parse(&name).map_err(serde::de::Error::custom)
            }
        }
    };
}
