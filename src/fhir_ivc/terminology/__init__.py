"""fhir_ivc.terminology"""
