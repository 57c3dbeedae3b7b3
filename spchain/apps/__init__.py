"""Front ends: the command line (:mod:`.cli`), scenario files
(:mod:`.scenario_file`), the HTML report (:mod:`.report`,
:mod:`.report_html`, with the tables' numbers and units in :mod:`.tables`), the workshop game (:mod:`.workshop`) and its web
server (:mod:`.webapp`).  Nothing below this layer imports from here.
"""
