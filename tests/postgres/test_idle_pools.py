"""The idle check's allowance for the app's pools, decided without a server."""

from fixtures.db_pool import PoolsNow
from transport.postgres import Backend


def test_the_apps_pooled_connections_idle_at_a_quiet_hour_are_not_counted_only_those_beyond_its_pools():
    """3 pods x pool 10: 30 of the app's connections idle at 3 a.m. are its pools'; 34 means 4 leaked
    (the longest idle); a psql left open counts whatever the pools hold."""
    def backend(pid, application, idle_s):
        return Backend(pid, "app", application, "10.0.1.7:5000", "idle", idle_s, None, idle_s, None)

    pools = PoolsNow("app-backend", 30, "pool size 10 x 3 running pods")
    night = [backend(n, "app-backend", 1800 + n) for n in range(30)]
    assert pools.not_theirs(night, night)[0] == []
    leaked = night + [backend(100 + n, "app-backend", 5000 + n) for n in range(4)]
    counted, said = pools.not_theirs(leaked, leaked)
    assert [b.pid for b in counted] == [103, 102, 101, 100]
    assert said == "; the app's pools may keep 30 of its connections open (app-backend: pool size 10 x 3 running pods), it has 34"
    psql = night + [backend(200, "psql", 900)]
    assert [b.pid for b in pools.not_theirs(psql, psql)[0]] == [200]
    unknown = PoolsNow("app-backend", None, "the app's pool size is not known")
    assert unknown.not_theirs(night, night) == (night, "")
