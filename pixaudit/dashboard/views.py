from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # The control catalog is the landing page until the posture dashboard exists.
    return redirect("controls:framework_list")
