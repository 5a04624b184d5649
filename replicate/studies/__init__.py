"""Studies behind the profiles' choices; not part of the table. Each writes its own folder under
`results/studies/` and a report beside it."""
