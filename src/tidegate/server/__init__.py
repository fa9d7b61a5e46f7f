"""The GitOps controller (`tidegate serve`): keeps every environment that a branch maps to equal
to its branch, runs CI for pull requests, watches for drift, reports to the forge, and serves
a JSON API and Prometheus metrics.

- `events`: what a webhook or a poll says happened in Git (a push, a pull request).
- `webhooks`: signed GitHub and GitLab deliveries turned into events.
- `forge/`: one small client per forge (GitHub, GitLab) behind the `Forge` protocol.
"""
