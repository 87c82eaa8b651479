#!/bin/sh
# prints the greeting the image was built with
cat /app/data/greeting
cat /app/static/index.txt
