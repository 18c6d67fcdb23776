"""The "ingestion client" group: what an application that writes ratings needs.

Its members may create and update ratings, and create the viewer of a first rating,
through ``POST /api/ratings/``; nothing else (``ingestion/permissions.py``).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "ingestion client"
PERMISSIONS = [("rating", "add_rating"), ("rating", "change_rating"), ("viewer", "add_viewer")]


def create_group(apps, schema_editor):
    # Permissions are created after all migrations; on a new database they must exist now.
    app_config = apps.get_app_config("ingestion")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=GROUP)
    group.permissions.add(
        *(
            Permission.objects.using(schema_editor.connection.alias).get(
                content_type__app_label="ingestion", content_type__model=model, codename=codename
            )
            for model, codename in PERMISSIONS
        )
    )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name=GROUP
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("ingestion", "0002_viewer_history_version"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
