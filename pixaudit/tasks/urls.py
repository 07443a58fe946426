from django.urls import path

from pixaudit.tasks import views

app_name = "tasks"

urlpatterns = [
    path("", views.my_work, name="my_work"),
    path("all/", views.task_list, name="task_list"),
    path("new/", views.task_create, name="task_create"),
    path("<int:pk>/", views.task_detail, name="task_detail"),
    path("<int:pk>/assign/", views.task_assign, name="task_assign"),
    path("<int:pk>/close/", views.task_close, name="task_close"),
    path("<int:pk>/reopen/", views.task_reopen, name="task_reopen"),
    path("<int:pk>/comment/", views.task_comment, name="task_comment"),
    path("<int:pk>/attach/", views.task_attach, name="task_attach"),
    path(
        "<int:pk>/attachments/<int:attachment_pk>/",
        views.attachment_download,
        name="attachment_download",
    ),
]
