"""The route matrix, one module per app: each defines `ROUTES`, may define `WS_ROUTES`
(websocket routes) and `extra_objects(objects) -> dict` to create what its routes point at."""

import importlib
import pkgutil


def load():
    routes, ws_routes, extenders = {}, {}, []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name == "common":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        clash = routes.keys() & module.ROUTES.keys()
        assert not clash, f"{module_info.name} redefines routes {sorted(clash)}"
        routes.update(module.ROUTES)
        ws_routes.update(getattr(module, "WS_ROUTES", {}))
        if hasattr(module, "extra_objects"):
            extenders.append(module.extra_objects)
    return routes, ws_routes, extenders
