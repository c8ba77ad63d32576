"""The Chinese working calendar (chinesecalendar: 法定节假日 and 调休 working days) and office
hours (:mod:`.workdays`). The engine joins it as a table (:mod:`procmine.engine.workcal`)."""
