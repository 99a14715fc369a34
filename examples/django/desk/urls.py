from django.urls import path

from desk import views

app_name = "desk"

urlpatterns = [
    path("", views.index, name="index"),
    path("overview/", views.overview, name="overview"),
    path("pairs/", views.pair_list, name="pairs"),
    path("pairs/analysis/", views.pair_analysis, name="analysis"),
    path("signals/", views.active_signals, name="signals"),
    path("params/", views.live_params, name="params"),
    path("backtests/", views.backtest_list, name="backtests"),
    path("backtests/submit/", views.backtest_submit, name="backtest-submit"),
    path("backtests/<str:request_id>/", views.backtest_detail, name="backtest"),
    path("backtests/<str:request_id>/report/", views.backtest_report, name="backtest-report"),
    path("walk-forwards/", views.walk_forward_submit, name="walk-forward-submit"),
    path("walk-forwards/<str:task_id>/", views.walk_forward_detail, name="walk-forward"),
]
