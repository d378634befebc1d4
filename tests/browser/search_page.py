"""Drive the search page of `clap-tools serve` in headless Chromium, as a user would: load it, type a
caption, press Enter, wait for the results, and fetch the first result's <audio> source.

    python tests/browser/search_page.py URL QUERY [SCREENSHOT.png]

Prints JSON: {"info": the page's index line, "hits": [audio ids in page order], "audio": [the first
hit's audio URL, its HTTP status, content type, byte length, RIFF/WAVE header ok]}. Needs Debian's
chromium and chromium-driver (scripts/setup.sh --python installs them) and selenium.
"""
import json
import shutil
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

url, query = sys.argv[1], sys.argv[2]
shot = sys.argv[3] if len(sys.argv) > 3 else None

options = webdriver.ChromeOptions()
options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900"]:
    options.add_argument(arg)
driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
try:
    driver.get(url)
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: "clips" in d.find_element(By.ID, "info").text)
    box = driver.find_element(By.ID, "q")
    box.send_keys(query)
    box.send_keys(Keys.ENTER)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.hit")))
    wait.until(lambda d: "clips for" in d.find_element(By.ID, "status").text)
    hits = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "li.hit .id")]
    src = driver.find_element(By.CSS_SELECTOR, "li.hit audio").get_attribute("src")
    with urllib.request.urlopen(src) as r:
        body = r.read()
        audio = [src, r.status, r.headers.get("Content-Type"), len(body), body[:4] == b"RIFF" and body[8:12] == b"WAVE"]
    info = driver.find_element(By.ID, "info").text
    if shot:
        driver.save_screenshot(shot)
    print(json.dumps({"info": info, "hits": hits, "audio": audio}))
finally:
    driver.quit()
