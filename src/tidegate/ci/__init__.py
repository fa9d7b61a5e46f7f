"""The pipeline that ties a tidegate project to Git: CI on pull requests and CD on merge.

`pipeline` runs the steps of `tidegate ci` (`steps/`) and `report` writes what they found;
`lint`, `lineage`, `impact` and `diff` are what the steps check; `deploy` brings an environment
to a merged commit; `variables` reads what the CI system says (the pull request, its refs).
Git itself is `tidegate.git`.
"""
