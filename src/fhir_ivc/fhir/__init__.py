"""fhir_ivc.fhir"""
