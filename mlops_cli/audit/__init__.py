"""The governance trail: who did what, when, why and from which git state."""
