"""The dashboard behind JupyterHub: each signed-in user gets a single-user server that shows
the dashboard (Voilà as a Jupyter server extension), behind the Hub's OAuth.

Every request to ``/user/<name>/...`` goes through the Hub's login: a request without it is
sent to the Hub's login page (an API call gets 403), and a user cannot open another user's
server (403). The kernels of a user's server see ``JUPYTERHUB_USER``, so the tally grid
records every tick under the Hub user (its reviewer box is locked; names sent by the page are
refused). Everybody's reviews go to one annotation store, ``DASHBOARD_STORE``.

Run it (``tests/browser/test_jupyterhub.py`` does, with its ports and folders)::

    DASHBOARD_FILE=results.parquet DASHBOARD_STORE=/srv/mldash/reviews.sqlite \\
    DASHBOARD_HUB_USERS=ana,ben DASHBOARD_HUB_PASSWORD='a shared test password' \\
        jupyterhub -f examples/jupyterhub/jupyterhub_config.py

then open http://127.0.0.1:8000/ and sign in. This file's authenticator (DummyAuthenticator:
one shared password) and spawner (SimpleLocalProcessSpawner: every server runs as the Hub's
own system user) are for a try-out and the test; in production keep the dashboard part
(``Spawner.environment``, ``default_url``, ``notebook_dir``, ``args``) and use your site's
authenticator and a spawner that runs each user as themselves, with the store in a folder
they can all write.
"""

import os
import sys
from pathlib import Path

from dashboard import serve

c = get_config()  # noqa: F821 - defined by JupyterHub when it reads this file

# ---- what to show: the results file, the shared annotation store, the served folder
results = Path(os.environ[serve.ENV_FILE]).resolve()
store = Path(os.environ.get(serve.ENV_STORE) or results.with_name(f"{results.stem}.reviews.sqlite"))
root = Path(os.environ.get("DASHBOARD_HUB_ROOT") or results.parent / "mldash-hub")
root.mkdir(parents=True, exist_ok=True)
serve.prepare_root_dir(root)  # the served folder holds the dashboard's notebook only

# ---- each user's server: jupyter_server with Voilà, opening on the dashboard
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.notebook_dir = str(root)
c.Spawner.default_url = f"/voila/render/{serve.NOTEBOOK_NAME}"
c.Spawner.args = [
    f"--VoilaConfiguration.template={serve.TEMPLATE_NAME}",
    "--VoilaConfiguration.show_tracebacks=False",
    "--ServerApp.terminals_enabled=False",
    # the server shows the dashboard; JupyterLab and its language servers are not loaded
    "--ServerApp.jpserver_extensions=jupyterlab=False",
    "--ServerApp.jpserver_extensions=jupyter_lsp=False",
    # a kernel no page holds goes after a minute (every page load starts one)
    f"--MappingKernelManager.cull_idle_timeout={serve.CULL_IDLE_TIMEOUT_S}",
    f"--MappingKernelManager.cull_interval={serve.CULL_INTERVAL_S}",
]
if os.geteuid() == 0:  # SimpleLocalProcessSpawner runs each server as the Hub's own user
    c.Spawner.args.append("--ServerApp.allow_root=True")
c.Spawner.environment = serve.hub_environment(
    serve.dashboard_env(results, store=store, dataset_name=os.environ.get(serve.ENV_DATASET_NAME))
)
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120

# ---- try-out authentication and spawning (replace both in production, see above)
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ["DASHBOARD_HUB_PASSWORD"]  # no password, no Hub
c.Authenticator.allowed_users = {
    u.strip() for u in os.environ.get("DASHBOARD_HUB_USERS", "").split(",") if u.strip()
}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(root.parent / "mldash-hub-homes" / "{username}")

# ---- the Hub and its proxy on loopback (put TLS in front for other machines)
c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8081"
