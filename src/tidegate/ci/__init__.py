"""The pipeline that ties a tidegate project to Git: CI on pull requests and CD on merge.

`git` reads the repository at any commit without touching the working tree; the other modules
lint, trace lineage, diff data, run the pull-request pipeline, report it and deploy merges.
"""
