# Run with `manage.py shell -c` in the web container: makes sure the admin user
# exists as a superuser with the given password. The e-mail and password come from
# the environment (never the command line); the last line says what it did.
import os

from django.contrib.auth import get_user_model

email = os.environ["LGTM_ADMIN_EMAIL"]
password = os.environ["LGTM_ADMIN_PASSWORD"]
check = os.environ.get("LGTM_CHECK") == "true"
users = get_user_model()
user = users.objects.filter(email__iexact=email).first()
if user is None:
    if not check:
        users.objects.create_superuser(email=email, password=password)
    print("lgtm-admin: created")
elif not (user.is_superuser and user.is_active and user.check_password(password)):
    if not check:
        user.is_superuser = user.is_staff = user.is_active = True
        user.set_password(password)
        user.save()
    print("lgtm-admin: updated")
else:
    print("lgtm-admin: unchanged")
