"""Front ends: the command line (:mod:`.cli`), scenario files
(:mod:`.scenario_file`), the HTML report (:mod:`.report`,
:mod:`.report_html`), the workshop game (:mod:`.workshop`) and its web
server (:mod:`.webapp`).  Nothing below this layer imports from here.
"""
