"""fhir_ivc.bundle"""
