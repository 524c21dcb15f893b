"""Working with other explanation libraries: `strokelens.interop.captum` (Captum, both ways)."""
