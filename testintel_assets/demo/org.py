"""Acme Shop, the sample organisation: its tests, code, traffic and bugs, with planted truths.

The truths the tests check (docs/demo.md):
- FLAKY_TESTS pass and fail on the same sha (reruns within a run, and re-runs of a sha);
- BROKEN_TEST fails every attempt of every run, so it must never be called flaky;
- `search` has the most traffic and the lowest coverage: first among usage x coverage gaps;
- `payment` collects most of the defects.
"""

from __future__ import annotations

from dataclasses import dataclass

HIGH_USAGE_LOW_COVERAGE_FLOW = "search"
MANY_DEFECTS_FLOW = "payment"


@dataclass(frozen=True)
class DemoTest:
    nodeid: str  # pytest node id, or `<spec file>::<describe> › <title>` for Playwright
    flow: str
    risk: str
    owner: str
    component: str
    feature: str
    event: str
    fail_rate: float = 0.0  # chance an attempt fails for no reason of the code: the flake rate
    broken: bool = False
    duration_ms: float = 120.0


def _py(module: str, cls: str, name: str, flow: str, **kw: object) -> DemoTest:
    return DemoTest(nodeid=f"tests/api/{module}.py::{cls}::{name}", flow=flow, **kw)  # type: ignore[arg-type]


_OWNER = {
    "signup": ("identity", "accounts"),
    "login": ("identity", "auth"),
    "password_reset": ("identity", "auth"),
    "search": ("discovery", "search"),
    "product_view": ("discovery", "catalog"),
    "cart": ("commerce", "cart"),
    "checkout": ("commerce", "checkout"),
    "payment": ("payments", "payments"),
    "order_history": ("commerce", "orders"),
    "profile": ("identity", "accounts"),
    "file_upload": ("platform", "uploads"),
    "admin_reports": ("platform", "admin"),
}


def _flow_tests(flow: str, module: str, cls: str, names: list[str], risk: str, event: str) -> list[DemoTest]:
    owner, component = _OWNER[flow]
    return [
        _py(
            module,
            cls,
            name,
            flow,
            risk=risk,
            owner=owner,
            component=component,
            feature=name.removeprefix("test_"),
            event=event,
            duration_ms=40.0 + 17.0 * (index % 7),
        )
        for index, name in enumerate(names)
    ]


def _override(tests: list[DemoTest], name: str, **changes: object) -> list[DemoTest]:
    return [
        DemoTest(**{**test.__dict__, **changes}) if test.nodeid.endswith(name) else test  # type: ignore[arg-type]
        for test in tests
    ]


def _pytest_suite() -> list[DemoTest]:
    tests = [
        *_flow_tests(
            "signup",
            "test_signup",
            "TestSignup",
            ["test_register_with_email", "test_rejects_weak_password", "test_verification_email_sent"],
            "high",
            "Sign Up Completed",
        ),
        *_flow_tests(
            "login",
            "test_login",
            "TestLogin",
            [
                "test_password_login",
                "test_sso_login",
                "test_lockout_after_failures",
                "test_session_refresh",
                "test_logout_clears_session",
            ],
            "critical",
            "Login",
        ),
        *_flow_tests(
            "password_reset",
            "test_password_reset",
            "TestPasswordReset",
            ["test_reset_email", "test_reset_token_expires"],
            "medium",
            "Password Reset Requested",
        ),
        *_flow_tests(
            "search",
            "test_search",
            "TestSearch",
            ["test_keyword_search", "test_suggestions_ranked"],
            "high",
            "Search",
        ),
        *_flow_tests(
            "product_view",
            "test_catalog",
            "TestProductPage",
            ["test_product_details", "test_reviews_paginated", "test_out_of_stock_badge"],
            "medium",
            "Product Viewed",
        ),
        *_flow_tests(
            "cart",
            "test_cart",
            "TestCart",
            [
                "test_add_item",
                "test_update_quantity",
                "test_remove_item",
                "test_cart_persists_across_login",
                "test_price_recalculated",
            ],
            "critical",
            "Added To Cart",
        ),
        *_flow_tests(
            "checkout",
            "test_checkout",
            "TestCheckout",
            [
                "test_shipping_options",
                "test_address_validation",
                "test_order_summary_totals",
                "test_place_order",
                "test_guest_checkout",
                "test_tax_calculation",
            ],
            "critical",
            "Order Completed",
        ),
        *_flow_tests(
            "payment",
            "test_payments",
            "TestPayments",
            [
                "test_card_authorised",
                "test_card_declined",
                "test_3ds_challenge_timeout",
                "test_refund_issued",
                "test_wallet_payment",
            ],
            "critical",
            "Payment Succeeded",
        ),
        *_flow_tests(
            "order_history",
            "test_orders",
            "TestOrderHistory",
            ["test_orders_listed", "test_invoice_pdf", "test_return_request"],
            "medium",
            "Orders Viewed",
        ),
        *_flow_tests(
            "profile",
            "test_profile",
            "TestProfile",
            ["test_update_name", "test_add_address", "test_delete_address"],
            "low",
            "Profile Updated",
        ),
        *_flow_tests(
            "file_upload",
            "test_uploads",
            "TestUploads",
            ["test_avatar_upload", "test_large_file_resumable", "test_rejects_executable"],
            "medium",
            "File Uploaded",
        ),
        *_flow_tests(
            "admin_reports",
            "test_admin_reports",
            "TestExport",
            ["test_sales_report", "test_export_csv_utf8", "test_stock_report"],
            "low",
            "Report Generated",
        ),
    ]
    tests = _override(tests, "test_suggestions_ranked", fail_rate=0.30)
    tests = _override(tests, "test_3ds_challenge_timeout", fail_rate=0.35)
    tests = _override(tests, "test_large_file_resumable", fail_rate=0.30)
    return _override(tests, "test_export_csv_utf8", broken=True)


_E2E = [
    ("login.spec.ts", "Login", "signs in with password", "login", "critical"),
    ("login.spec.ts", "Login", "shows lockout message", "login", "high"),
    ("signup.spec.ts", "Signup", "creates an account", "signup", "high"),
    ("search.spec.ts", "Search", "finds products by keyword", "search", "high"),
    ("product.spec.ts", "Product page", "shows price and stock", "product_view", "medium"),
    ("cart.spec.ts", "Cart", "adds and removes items", "cart", "critical"),
    ("checkout.spec.ts", "Checkout", "completes a guest order", "checkout", "critical"),
    ("checkout.spec.ts", "Checkout", "applies discount code", "checkout", "critical"),
    ("payment.spec.ts", "Payment", "pays by card", "payment", "critical"),
    ("profile.spec.ts", "Profile", "edits the shipping address", "profile", "low"),
]


def _playwright_suite() -> list[DemoTest]:
    tests = []
    for file, describe, title, flow, risk in _E2E:
        owner, component = _OWNER[flow]
        tests.append(
            DemoTest(
                nodeid=f"{file}::{describe} › {title}",
                flow=flow,
                risk=risk,
                owner=owner,
                component=component,
                feature=title,
                event="",
                duration_ms=2500.0 + 300.0 * len(title) % 1700,
            )
        )
    return _override(tests, "applies discount code", fail_rate=0.25)


PYTEST_TESTS: list[DemoTest] = _pytest_suite()
PLAYWRIGHT_TESTS: list[DemoTest] = _playwright_suite()
PLAYWRIGHT_PROJECTS = ["chromium", "webkit"]

FLAKY_TESTS = [
    "tests.api.test_search.TestSearch::test_suggestions_ranked",
    "tests.api.test_payments.TestPayments::test_3ds_challenge_timeout",
    "tests.api.test_uploads.TestUploads::test_large_file_resumable",
    "checkout.spec.ts::Checkout › applies discount code",
]
BROKEN_TEST = "tests.api.test_admin_reports.TestExport::test_export_csv_utf8"

# component -> (python files with their executable line counts, line coverage, branch coverage)
CODE: dict[str, tuple[dict[str, int], float, float]] = {
    "auth": ({"shop/auth/login.py": 220, "shop/auth/sessions.py": 140, "shop/auth/sso.py": 180}, 0.91, 0.84),
    "accounts": ({"shop/accounts/models.py": 160, "shop/accounts/views.py": 240}, 0.83, 0.72),
    "search": (
        {
            "shop/search/engine.py": 620,
            "shop/search/ranking.py": 480,
            "shop/search/suggest.py": 260,
            "shop/search/filters.py": 300,
        },
        0.31,
        0.22,
    ),
    "catalog": ({"shop/catalog/products.py": 310, "shop/catalog/reviews.py": 150}, 0.78, 0.66),
    "cart": ({"shop/cart/cart.py": 260, "shop/cart/pricing.py": 190}, 0.89, 0.81),
    "checkout": (
        {"shop/checkout/flow.py": 340, "shop/checkout/shipping.py": 170, "shop/checkout/tax.py": 130},
        0.86,
        0.77,
    ),
    "payments": ({"shop/payments/gateway.py": 380, "shop/payments/three_ds.py": 210}, 0.72, 0.58),
    "orders": ({"shop/orders/history.py": 200, "shop/orders/invoices.py": 160}, 0.74, 0.61),
    "uploads": ({"shop/uploads/storage.py": 230}, 0.63, 0.49),
    "admin": ({"shop/admin/reports.py": 410}, 0.47, 0.35),
    "common": ({"shop/settings.py": 90, "shop/utils.py": 120}, 0.95, 0.9),
}

# Share of requests per flow (search carries the most traffic), plus unflowed traffic.
TRAFFIC: dict[str, float] = {
    "search": 0.26,
    "product_view": 0.21,
    "cart": 0.10,
    "login": 0.09,
    "checkout": 0.06,
    "order_history": 0.04,
    "payment": 0.04,
    "signup": 0.03,
    "profile": 0.03,
    "password_reset": 0.01,
    "file_upload": 0.01,
    "admin_reports": 0.005,
    "static": 0.13,
    "health": 0.02,
    "unmapped": 0.025,
}

ROUTES: dict[str, list[str]] = {
    "search": ["/search?q={word}", "/api/search?q={word}&page={n}", "/api/search/suggest?q={word}"],
    "product_view": ["/products/{id}", "/api/products/{id}", "/api/products/{id}/reviews?page={n}"],
    "cart": ["/cart", "/api/cart", "/api/cart/items", "/api/cart/items/{id}"],
    "login": ["/login", "/api/sessions", "/oauth/callback?code={hex}&state={hex}"],
    "checkout": ["/checkout", "/checkout/shipping", "/api/checkout/{uuid}", "/api/orders"],
    "order_history": ["/account/orders", "/account/orders/{id}", "/api/orders/{id}/invoice"],
    "payment": ["/api/payments", "/api/payments/{id}/confirm", "/pay/3ds/{uuid}"],
    "signup": ["/signup", "/api/users", "/api/users/verify?token={secret}"],
    "profile": ["/account/profile", "/api/users/{id}", "/api/users/{id}/addresses"],
    "password_reset": ["/password/reset?email={email}&token={secret}", "/api/password-resets"],
    "file_upload": ["/api/uploads", "/api/uploads/{id}"],
    "admin_reports": ["/admin/reports", "/api/admin/reports/{id}"],
    "static": ["/static/js/app.{hex}.js", "/static/css/site.{hex}.css", "/favicon.ico"],
    "health": ["/healthz", "/readyz"],
    "unmapped": ["/blog/{word}", "/api/v2/recommendations?u={id}", "/careers"],
}

USER_AGENTS: list[tuple[str, float]] = [
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Safari/605.1.15",
        0.22,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.0.0 Safari/537.36",
        0.30,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Mobile/15E148 Safari/604.1",
        0.18,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/119.0.6045.163 Mobile Safari/537.36",
        0.12,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", 0.06),
    ("AcmeShop/4.12.0 (iPhone; iOS 17.1; Scale/3.00) CFNetwork/1474 Darwin/23.1.0", 0.06),
    ("okhttp/4.12.0", 0.03),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0.03),
]

# Jira bugs per flow over the demo window: (Jira component, how many, label).
DEFECTS: dict[str, tuple[str, int]] = {
    "payment": ("Payments", 14),
    "checkout": ("Checkout", 4),
    "search": ("Search", 3),
    "cart": ("Cart", 2),
    "login": ("Auth", 2),
    "product_view": ("Catalog", 1),
    "file_upload": ("Uploads", 1),
    "admin_reports": ("Back office", 2),
}

PERSONAS = [("shopper", 0.8), ("merchant", 0.15), ("admin", 0.05)]
TIERS = [("free", 0.6), ("pro", 0.3), ("enterprise", 0.1)]
WORDS = ["shoes", "jacket", "lamp", "kettle", "headphones", "desk", "socks", "backpack", "tent", "mug"]
