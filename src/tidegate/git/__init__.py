"""Git, the source of truth: the repository a project lives in (`repository`: refs, commits,
merge bases, changed files, conflicts, files at a commit) and the project's files at a commit
(`workspace`). The bottom of tidegate above `errors`: even `tidegate plan` reads it.
"""
