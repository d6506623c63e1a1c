"""fhir_ivc.validation"""
