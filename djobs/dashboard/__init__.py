"""The admin's pages beyond Django's model pages: the dashboard and the helpers the job pages share."""
