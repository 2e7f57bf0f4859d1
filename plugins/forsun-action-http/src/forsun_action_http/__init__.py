"""forsun's http action: requests a plan's ``url`` when it comes due."""

from forsun import hookimpl
from forsun.options import Option
from forsun.plugins import lazy


@hookimpl
def register_actions(register):
    register("http", lazy("forsun_action_http.action:HttpAction"))


@hookimpl
def register_options(register):
    register(Option("action-http-max-clients", type=int, default=64, section="action",
                    metavar="N",
                    help="requests in flight at once to one host; idle connections are kept "
                         "alive and reused"))
    register(Option("action-http-connect-timeout", type=float, default=5.0, section="action",
                    metavar="SECONDS", help="default of the connect_timeout param"))
    register(Option("action-http-request-timeout", type=float, default=120.0, section="action",
                    metavar="SECONDS", help="default of the request_timeout param"))
    register(Option("action-http-user-agent", default="", section="action", metavar="TEXT",
                    help="default User-Agent header (empty: forsun/VERSION)"))
