"""fhir_ivc.mappers"""
