"""The GitOps controller (`tidegate serve`): keeps every environment that a branch maps to equal
to its branch, runs CI for pull requests, watches for drift, reports to the forge, and serves
a JSON API and Prometheus metrics.

- `events`: what a webhook or a poll says happened in Git (a push, a pull request).
- `webhooks`: signed GitHub and GitLab deliveries turned into events.
- `forge/`: one small client per forge (GitHub, GitLab) behind the `Forge` protocol.
- `checkout`: the controller's own clone of the repository (never the user's tree).
- `store`: its runs, queue, webhook deliveries and handled heads, in SQLite (restart safety).
- `runs`: one deployment, pull-request CI or teardown, through the command line's code.
- `states`: an environment's state (synced, syncing, out_of_sync, pinned, drifted, failed).
- `lanes`: what work must have to itself (an environment, or a whole DuckDB file).
- `environments`: the kept environments as their warehouses say: state, drift, rollback, unpin.
- `controller`: the reconcile loop: polls, queues per environment, runs, forge feedback.
- `app`: the Starlette app (webhooks, the JSON API, `/metrics`); `metrics`, `logs`.
"""
