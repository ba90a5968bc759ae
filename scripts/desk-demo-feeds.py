#!/usr/bin/env python3
"""Writes two realistic RSS feeds into DIR (meae.xml, afd.xml) for the desk's screenshots:
calls for projects, news and events of the kind the network follows, one call relayed by both."""
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape

out = sys.argv[1]
now = datetime.now(timezone.utc)

MEAE = [
    ("Appel à projets « Jeunesse et solidarité internationale » 2027 au Sénégal",
     "Le ministère de l'Europe et des Affaires étrangères ouvre l'appel à projets Jeunesse et solidarité internationale pour les associations françaises travaillant avec des partenaires au Sénégal. Les dossiers sont à déposer avant le 15 janvier 2027. Les projets doivent associer des jeunes des deux pays."),
    ("Conseil présidentiel pour les partenariats internationaux : compte rendu",
     "Le conseil a examiné la programmation de l'aide bilatérale et la stratégie santé mondiale pour les cinq prochaines années."),
    ("Eau et assainissement : appel à manifestation d'intérêt pour les collectivités",
     "Les collectivités territoriales peuvent proposer des projets de coopération décentralisée dans le domaine de l'eau et de l'assainissement à Madagascar et au Bénin, avant le 12 décembre 2026."),
    ("Forum des acteurs de la solidarité internationale à Toulouse",
     "Rencontres, ateliers et tables rondes le 12 décembre à Toulouse : financements européens, volontariat, éducation à la citoyenneté."),
]
AFD = [
    ("Relayé : appel à projets Jeunesse et solidarité internationale 2027 (Sénégal)",
     "Relayé par l'AFD : le ministère de l'Europe et des Affaires étrangères ouvre l'appel à projets Jeunesse et solidarité internationale pour les associations françaises travaillant avec des partenaires au Senegal. Les dossiers sont à déposer avant le 15 janvier 2027. Les projets doivent associer des jeunes des deux pays !"),
    ("Rapport annuel 2026 sur l'aide publique au développement",
     "Les chiffres de l'aide publique au développement française : 15 milliards d'euros, priorité à l'Afrique, à la santé et au climat."),
    ("Facilité de financement des ONG : nouvelle session",
     "La facilité d'innovation sectorielle pour les ONG ouvre une nouvelle session ; notes d'intention attendues avant le 30 janvier 2027."),
]

def feed(name, link, items):
    entries = []
    for i, (title, text) in enumerate(items):
        date = format_datetime(now - timedelta(hours=6 * i + 1))
        entries.append(
            f"<item><title>{escape(title)}</title><link>{link}a/{i}</link>"
            f"<guid>{link}a/{i}</guid><pubDate>{date}</pubDate>"
            f"<description>{escape(text)}</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{name}</title><link>{link}</link><description>{name}</description>"
            + "".join(entries) + "</channel></rss>")

with open(f"{out}/meae.xml", "w", encoding="utf-8") as f:
    f.write(feed("MEAE", "https://www.diplomatie.gouv.fr/", MEAE))
with open(f"{out}/afd.xml", "w", encoding="utf-8") as f:
    f.write(feed("AFD", "https://www.afd.fr/", AFD))
